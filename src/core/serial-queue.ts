/**
 * A queue per key (e.g. per store) that runs tasks one after another in this process; a failed
 * task does not stop the ones after it. Each caller makes its own, so unrelated work (segment
 * refreshes, computed traits) does not wait on each other.
 */
export function serialQueue(): <T>(key: object, task: () => Promise<T>) => Promise<T> {
  const tails = new WeakMap<object, Promise<unknown>>();
  return <T>(key: object, task: () => Promise<T>) => {
    const next = (tails.get(key) ?? Promise.resolve()).then(task, task);
    tails.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };
}
