import {createInterface} from 'node:readline/promises'

/**
 * Asks the operator to type `expected` to confirm a destructive step. Returns
 * false when stdin is not a terminal (CI, pipes): such runs need --yes.
 */
export async function confirmByTyping(question: string, expected: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await rl.question(`${question}\nType "${expected}" to continue: `)
    return answer.trim() === expected
  } finally {
    rl.close()
  }
}
