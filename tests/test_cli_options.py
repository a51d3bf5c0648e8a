"""One spelling per option across commands: -o/--output for outputs (--out still works),
--weights, --device, --threads (sm simulate's --workers still works)."""

import argparse

from napari_mpi_dl.cli.main import build_parser

OTHER_SPELLINGS = {"--weight", "--weights-file", "--model-weights", "--dev", "--cuda",
                   "--num-threads", "--torch-threads", "--nthreads", "--outdir", "--out-dir"}


def _all_parsers(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*path, name))


def test_output_weights_device_threads_are_spelled_the_same_everywhere():
    outputs = 0
    for path, parser in _all_parsers(build_parser()):
        for action in parser._actions:
            opts = set(action.option_strings)
            if opts & {"-o", "--out", "--output"}:
                outputs += 1
                assert {"-o", "--output", "--out"} <= opts, (path, opts)
            assert not opts & OTHER_SPELLINGS, (path, opts)
    assert outputs >= 12


def test_old_spellings_still_parse_to_the_same_value():
    parser = build_parser()
    for flag in ("-o", "--output", "--out"):
        args = parser.parse_args(["simulate", "two-tube", flag, "x.tif"])
        assert args.output == "x.tif"
        args = parser.parse_args(["deblur", "in.tif", flag, "y.tif"])
        assert args.out == "y.tif"
    for flag in ("--threads", "--workers"):
        args = parser.parse_args(["sm", "simulate", "-o", "sm.mdf", flag, "2"])
        assert args.workers == 2


def test_richardson_lucy_iteration_defaults_come_from_their_one_constant():
    """The deconvolution default (early stopping) and DC_GAN's domain-Y recipe (fixed count)
    are two named constants, each used by its command instead of a literal."""
    from napari_mpi_dl.dcgan.data import Y_REFERENCE_RL_ITERATIONS
    from napari_mpi_dl.recon.deconvolution import DEFAULT_RL_ITERATIONS

    parser = build_parser()
    args = parser.parse_args(["deconvolve", "in.tif", "-o", "out.tif"])
    assert args.iterations == DEFAULT_RL_ITERATIONS == 800
    args = parser.parse_args(["train", "deblur", "--generate", "8", "-o", "run"])
    assert args.rl_iterations == Y_REFERENCE_RL_ITERATIONS == 200
