"""Benchmark (not a test): losslab.train.train against a minimal training loop over the same net and data.

    PYTHONPATH=. python benchmarks/trainer_bench.py [--device cuda] [--net mlenet|resnet18] [--autocast bf16] [--channels-last]
Prints steps/s of both and the trainer's overhead (1 - trainer/minimal). Both keep the data on the device
and evaluate nothing during the timed epochs (eval_every = epochs; its one evaluation is timed separately).
"""

import argparse
import time

import torch
import torch.nn.functional as F

from losslab.data import Split
from losslab.nets import build_net
from losslab.runtime import torch_threads_per_process
from losslab.train import TrainConfig, train

SHAPES = {"mlenet": (1, 28, 28), "resnet18": (3, 32, 32), "lp17-dcnn": (3, 32, 32)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def minimal_loop(model, data, epochs, batch, lr, device):
    """SGD steps/s of the plainest loop: resident data, one randperm per epoch, no bookkeeping."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    _sync(device)
    started, steps = time.perf_counter(), 0
    for _ in range(epochs):
        order = torch.randperm(len(data.y)).to(device)
        for start in range(0, len(order), batch):
            index = order[start:start + batch]
            loss = F.cross_entropy(model(data.x[index]), data.y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    _sync(device)
    return steps / (time.perf_counter() - started)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--net", default="mlenet", choices=sorted(SHAPES))
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--autocast", default=None, choices=[None, "bf16"])
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(torch_threads_per_process())
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    data = Split(torch.randn((args.n,) + SHAPES[args.net], generator=g), torch.randint(0, 10, (args.n,), generator=g))
    resident = data.to(device)
    torch.manual_seed(0)
    model = build_net(args.net).to(device)
    minimal_loop(model, resident, 1, args.batch, 0.01, device)  # warm-up (cuDNN autotuning, allocator)
    minimal = minimal_loop(model, resident, args.epochs, args.batch, 0.01, device)
    config = TrainConfig(epochs=args.epochs, lr=0.01, momentum=0.9, batch_size=args.batch, eval_every=args.epochs)
    _sync(device)
    started = time.perf_counter()
    result = train(model, data, config, seed=0, device=device, autocast=args.autocast,
                   channels_last=args.channels_last, progress_every_s=1e9)
    _sync(device)
    elapsed = time.perf_counter() - started
    steps = args.epochs * -(-args.n // args.batch)
    print(f"{args.net} on {device} ({args.n} images, batch {args.batch}, {args.epochs} epochs, "
          f"autocast {args.autocast}, channels_last {args.channels_last}, torch threads {torch.get_num_threads()})")
    print(f"minimal loop: {minimal:.1f} steps/s; train(): {steps / elapsed:.1f} steps/s incl. its final "
          f"evaluation of {args.n} images; overhead {1 - steps / elapsed / minimal:+.1%}")
    print(f"run flags: {result.run}")


if __name__ == "__main__":
    main()
