/**
 * Test hooks that kill the process at a named point, to prove that a crash
 * there loses nothing and duplicates nothing. Inert unless the environment
 * asks for them:
 *
 *   STRANGLER_TEST_CRASH_AT=relay:after-apply          first time the point is reached
 *   STRANGLER_TEST_CRASH_AT=backfill:after-chunk#3     the third time
 *   STRANGLER_TEST_CRASH_AT=a,b#2                      either
 *
 * The process exits at once with code 137 (what a shell reports for kill -9):
 * no `finally` blocks, no lock release, no audit record.
 */
const hits = new Map<string, number>()
let parsed: {raw: string; points: Map<string, number>} | undefined

function wanted(): Map<string, number> {
  const raw = process.env.STRANGLER_TEST_CRASH_AT ?? ''
  if (parsed?.raw !== raw) {
    const points = new Map<string, number>()
    for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [name, nth] = part.split('#')
      points.set(name, nth ? Math.max(1, Number(nth) || 1) : 1)
    }
    parsed = {raw, points}
  }
  return parsed.points
}

/** Exits the process with code 137 when `STRANGLER_TEST_CRASH_AT` names this point (and its hit count is reached). */
export function crashPoint(name: string): void {
  const points = wanted()
  if (!points.size) return
  const nth = points.get(name)
  if (nth === undefined) return
  const n = (hits.get(name) ?? 0) + 1
  hits.set(name, n)
  if (n < nth) return
  process.stderr.write(`strangler: crash point ${name} reached (hit ${n}); exiting with 137 as STRANGLER_TEST_CRASH_AT asks\n`)
  process.exit(137)
}
