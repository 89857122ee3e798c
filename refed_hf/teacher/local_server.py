"""The child process that serves a GGUF model with llama.cpp (xllamacpp) on 127.0.0.1.

Started by `refed_hf.teacher.local_teacher`; prints its base URL on the first line of stdout, then serves
until SIGTERM. On Linux it asks the kernel to send it SIGTERM when its parent dies, so it never
outlives the build, even one killed with SIGKILL.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request above took effect
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--ctx", type=int, required=True)
    parser.add_argument("--parallel", type=int, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    _die_with_parent(args.parent)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    import xllamacpp  # noqa: PLC0415 - only this process loads the native runtime

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    params.verbosity = -1
    server = xllamacpp.Server(params)
    if stop.is_set():  # SIGTERM (the build stopped, or died) came while the model loaded
        os._exit(0)
    try:
        print(server.listening_address, flush=True)
    except BrokenPipeError:  # the build died while the model loaded: nobody will ask
        os._exit(0)
    stop.wait()
    # Not `del server`: joining llama.cpp's threads can hang once the build is gone, and this process
    # keeps nothing worth a clean shutdown; exiting frees the port and the memory at once.
    os._exit(0)


if __name__ == "__main__":
    main()
