"""An object built and called in a fresh Python process: a benchmark arm that shares no process state with the other.

The reference loop's arm must run as it would in its own notebook: glibc's malloc settings (which `train_cnn` changes
for the whole of its call, see `cnn.cpu_memory_reuse`), the random streams and torch's thread pool are all per
process. `InChildProcess(factory, *args)` builds `factory(*args)` in a process started with `spawn` (a new
interpreter, nothing inherited but the environment); `call(name, ...)` runs one of its methods there and returns the
result, with the call's wall seconds, minor page faults and system CPU seconds, as the child measured them, in
`usage`. The two processes take turns, so the arms still alternate on the same cores. `measured()` is that
measurement, for any block of this process.
"""
import multiprocessing as mp, resource, time, traceback
from contextlib import contextmanager


@contextmanager
def measured():
    "A dict that holds, once the block has run, its wall `seconds`, `minor_faults` and `system_seconds`."
    usage, r0, t0 = {}, resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try: yield usage
    finally:
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        usage.update(seconds=time.perf_counter() - t0, minor_faults=r1.ru_minflt - r0.ru_minflt,
                     system_seconds=r1.ru_stime - r0.ru_stime)


def _serve(conn, factory, args: tuple, kwargs: dict, threads: int | None):
    "The child's side: build the object, then answer `(method, args, kwargs)` requests until `None` arrives."
    import torch
    if threads: torch.set_num_threads(threads)
    try: obj, reply = factory(*args, **kwargs), ('ok', None)
    except BaseException: obj, reply = None, ('error', traceback.format_exc())
    conn.send(reply + (None,))
    if obj is None: return
    while (request := conn.recv()) is not None:
        name, a, kw = request
        with measured() as usage:
            try: reply = ('ok', getattr(obj, name)(*a, **kw))
            except StopIteration: reply = ('stop', None)
            except BaseException: reply = ('error', traceback.format_exc())
        conn.send(reply + (usage,))


class InChildProcess:
    "`factory(*args, **kwargs)` living in a fresh process; `call(name, ...)` runs its method `name` there."
    def __init__(self, factory, *args, threads: int | None = None, **kwargs):
        ctx = mp.get_context('spawn')
        self._conn, child_end = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child_end, factory, args, kwargs, threads))
        self._proc.start(); child_end.close()
        self.usage = None
        self._receive()

    def _receive(self):
        try: status, value, self.usage = self._conn.recv()
        except EOFError:
            self._proc.join()
            code = self._proc.exitcode
            raise RuntimeError(f'the child process ended with exit code {code} before answering') from None
        if status == 'error':
            self.close()
            raise RuntimeError(f'in the child process:\n{value}')
        if status == 'stop': raise StopIteration
        return value

    def call(self, name: str, *args, **kwargs):
        self._conn.send((name, args, kwargs))
        return self._receive()

    def __next__(self): return self.call('__next__')

    def close(self):
        if self._proc.is_alive():
            try: self._conn.send(None)
            except (BrokenPipeError, OSError): pass
            self._proc.join(timeout=30)
            if self._proc.is_alive(): self._proc.kill(); self._proc.join()
        self._conn.close()

    def __enter__(self): return self
    def __exit__(self, *exc): self.close()
