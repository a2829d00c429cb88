"""Entry point, run by path: ``python -I .../sandbox_child [--zygote] '<config json>'``.

The worker runs this directory rather than ``-m agents.runtime.sandbox_child``: under ``-I``
nothing comes from the environment, the user's site-packages or the working directory, and the
project is not on ``sys.path`` (nor wanted there: the child imports no project code). Python
then puts this directory first on ``sys.path`` and runs this file as a top-level module, where
relative imports fail. So it takes the directory off ``sys.path`` again (none of its module
names may shadow a top-level module that smolagents or tool code imports) and imports it as
the package ``sandbox_child`` by location. Every module is imported here, before isolation
hides the project directory.
"""

import sys

if __package__:  # run as a module of the project (by hand): relative imports just work
    from .forkserver import zygote_main
    from .serve import direct_main
else:
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == _here:
        del sys.path[0]
    _spec = importlib.util.spec_from_file_location(
        "sandbox_child", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
    )
    sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_spec.name])

    from sandbox_child.forkserver import zygote_main
    from sandbox_child.serve import direct_main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--zygote":
        zygote_main()
    else:
        direct_main()
