import {describe, expect, it} from 'vitest'
import {planSteps} from '../../src/phases/shift.js'

const actions = (current: number, steps: number[], lower?: boolean) => planSteps(current, steps, {lower}).map((s) => `${s.pct}:${s.action}`)

describe('shift step plan (a re-run resumes, a walk never lowers reads)', () => {
  it('from 0 every step goes up', () => {
    expect(actions(0, [10, 50, 100])).toEqual(['10:up', '50:up', '100:up'])
  })

  it('re-running after an interruption at 50 % skips 10, holds 50 (its soak continues) and goes on to 100', () => {
    expect(actions(50, [10, 50, 100])).toEqual(['10:skip', '50:hold', '100:up'])
  })

  it('interrupted between two steps: the steps below are skipped, the next one goes up', () => {
    expect(actions(30, [10, 50, 100])).toEqual(['10:skip', '50:up', '100:up'])
  })

  it('at 100 % the whole walk is skipped except the last step, which holds', () => {
    expect(actions(100, [10, 50, 100])).toEqual(['10:skip', '50:skip', '100:hold'])
    expect(actions(100, [10, 50])).toEqual(['10:skip', '50:skip'])
  })

  it('a walk out of order never goes back down', () => {
    expect(actions(0, [50, 10, 100])).toEqual(['50:up', '10:skip', '100:up'])
  })

  it('--to below the current percentage lowers reads; --to at it holds; above it goes up', () => {
    expect(actions(50, [10], true)).toEqual(['10:lower'])
    expect(actions(50, [50], true)).toEqual(['50:hold'])
    expect(actions(50, [80], true)).toEqual(['80:up'])
  })

  it('without --to the same single step below the current percentage is skipped', () => {
    expect(actions(50, [10])).toEqual(['10:skip'])
  })
})
