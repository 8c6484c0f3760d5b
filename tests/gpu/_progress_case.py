"""Run by tests/gpu/test_progress.py in a subprocess with --report: one tiny training through trained_net."""


def test_train_tiny(trained_net):
    trained_net("tiny-teacher-fnn", run_index=0)
