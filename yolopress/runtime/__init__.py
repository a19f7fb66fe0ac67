"""One runner per backend, all with the same interface: load once, then ``infer`` batches.

Bench, accuracy and deployment code only ever see :class:`Runner`; adding a backend means
adding a module here and a line in :data:`RUNNERS`.
"""

from yolopress.runtime.base import RUNNERS, Runner, load_runner

__all__ = ["RUNNERS", "Runner", "load_runner"]
