/**
 * How long-running work (backfill, relay catch-up, diff) reports progress
 * without knowing about terminals: the CLI passes a reporter that draws
 * cli-progress bars on a TTY, prints periodic lines otherwise, and nothing with
 * --json. Library callers pass `silentProgress`.
 */
export interface ProgressTask {
  /** Set the total when it becomes known (or changes). */
  setTotal(total: number): void
  /** Add `n` units done. */
  increment(n: number, payload?: Record<string, string | number>): void
  /** Set the absolute amount done (e.g. after resuming from a checkpoint). */
  update(done: number, payload?: Record<string, string | number>): void
  stop(message?: string): void
}

export interface ProgressReporter {
  task(label: string, total: number, unit?: string): ProgressTask
  /** A line of narration ("installing capture on users"), shown above the bars. */
  note(message: string): void
  close(): void
}

const silentTask: ProgressTask = {setTotal() {}, increment() {}, update() {}, stop() {}}

export const silentProgress: ProgressReporter = {
  task: () => silentTask,
  note: () => undefined,
  close: () => undefined,
}
