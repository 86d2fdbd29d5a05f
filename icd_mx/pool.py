"""The worker pool of the per-image stages (superpixels, seeds): one job over many tasks.

A *job* is a picklable callable; ``job(task)`` does one task (an image id, or a list of
ids) and returns ``(id, error)`` or a list of them, ``error`` being ``None`` or the
``(path, problem)`` of an :class:`~icd_mx.errors.InputError` met on that image. The
first error ends the run with that InputError (docs/reliability.md, "Refusals"); the
images finished before it stay written, so a rerun resumes.

With ``devices`` (a list of GPU ids, one per worker process), each worker takes the
next id from a queue and hands it to ``job.set_device(id)`` before its first task;
such workers start fresh ("spawn": CUDA does not survive a fork). Otherwise workers
are forked and inherit the job, so a large job is never pickled.
"""
from .errors import InputError

_JOB = []


def _init_worker(job, devices=None):
    """Keep one job per worker process (its network, if any, loads once per worker)."""
    if devices is not None and hasattr(job, "set_device"):
        job.set_device(devices.get())
    _JOB[:] = [job]


def _run_task(task):
    return _JOB[0](task)


def _results(out):
    return out if isinstance(out, list) else [out]


def run_jobs(job, tasks, processes=1, progress=True, desc="", devices=None, chunksize=1, total=None):
    """Run ``job`` over ``tasks`` in ``processes`` worker processes (in this process when
    there is one, or one task); return the number of images done.

    Parameters
    ----------
    job : callable
        ``job(task) -> (id, error) or [(id, error)]`` (picklable).
    tasks : list
    processes : int
        Worker processes; with ``devices``, one per device id in it.
    progress : bool
        A progress bar counting images.
    desc : str
        The bar's label.
    devices : list, optional
        GPU ids, one per worker (see the module's text).
    chunksize : int
        Tasks sent to a worker at a time.
    total : int, optional
        Images in all tasks (the bar's length; default: one per task).

    Raises
    ------
    InputError
        The first bad image met by a worker.
    """
    from tqdm import tqdm

    bar = tqdm(total=len(tasks) if total is None else total, desc=desc, disable=not progress)
    done = 0
    try:
        if (processes > 1 or devices) and len(tasks) > 1:
            import multiprocessing as mp

            ctx = mp.get_context("spawn" if devices else "fork")
            queue = None
            if devices:
                queue = ctx.Queue()
                for d in devices:
                    queue.put(d)
                processes = len(devices)
            with ctx.Pool(processes, initializer=_init_worker, initargs=(job, queue)) as pool:
                for out in pool.imap_unordered(_run_task, tasks, chunksize=chunksize):
                    results = _results(out)
                    for _, err in results:
                        if err:
                            pool.terminate()
                            raise InputError(*err)
                    done += len(results)
                    bar.update(len(results))
        else:
            for task in tasks:
                results = _results(job(task))
                for _, err in results:
                    if err:
                        raise InputError(*err)
                done += len(results)
                bar.update(len(results))
    finally:
        bar.close()
    return done
