"""A local Ray for one test module (imported by the tests that run on Ray)."""

import contextlib

import pytest


@contextlib.contextmanager
def local_ray(module, **init_options):
    """Ray with 2 CPUs on this machine, shut down on exit; skips without Ray.

    Ray's workers do not see the tests folder on their path, so ``module`` (the test
    module, whose functions the tasks call) is shipped to them by value.
    """
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(module)
    ray.init(num_cpus=2, include_dashboard=False, **init_options)
    try:
        yield ray
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(module)
