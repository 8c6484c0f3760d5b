"""LI19 (Li 2019) experiments: `dyson` (Appendix A: MDE symmetry, support, sampled spectra) and
`hinge_nets` (Sec. 4 / Thm 4.1: Hessians of ReLU nets under the hinge loss)."""
