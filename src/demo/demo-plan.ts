import {join, resolve} from 'node:path'
import {validatePlan} from '../config/load.js'
import type {Plan, PlanInput} from '../config/schema.js'

/** The shop tables the demo loads: the two services' tables (the rest of the shop plays no part). */
export const DEMO_TABLES = ['users', 'orders', 'order_items'] as const
export type DemoTable = (typeof DEMO_TABLES)[number]

/** The services the demo walks, in order. */
export const DEMO_SERVICES = ['users', 'orders'] as const
export type DemoService = (typeof DEMO_SERVICES)[number]

/** Where the demo's embedded databases live. */
export interface DemoStores {
  monolith: string
  users: string
  orders: string
}

/** `pglite://` URLs of the monolith and the two service stores under `dir`. */
export function demoStores(dir: string): DemoStores {
  const abs = resolve(dir)
  const url = (name: string): string => `pglite://${join(abs, name)}`
  return {monolith: url('monolith'), users: url('users'), orders: url('orders')}
}

/** Gate settings sized for a demo that walks every phase in about a minute. */
export interface DemoGates {
  /** Soak at each shift step and before decommission (plan duration, e.g. `2s`). */
  soak: string
  minShadowSamples: number
}

/**
 * The demo's plan: the shop monolith split into `users` (with a rename and a
 * widening cast, the password hash masked) and `orders` (orders and their
 * lines, renamed `order_lines`), each in its own embedded PostgreSQL; local
 * toggles; gates that a one-minute walk can meet (short soak, few shadow
 * samples, diffs valid for a day) but that still refuse on lag, dead letters,
 * shadow mismatches and unclean diffs.
 */
export function demoPlanInput(stores: DemoStores, gates: DemoGates = {soak: '2s', minShadowSamples: 50}): PlanInput {
  return {
    monolith: {url: stores.monolith},
    state: {prefix: 'strangler_'},
    toggles: {provider: 'local', pollMs: 200},
    gates: {
      maxRelayLagSeconds: 10,
      maxDeadLetters: 0,
      maxShadowMismatchRate: 0.01,
      minShadowSamples: gates.minShadowSamples,
      maxDiffAgeMinutes: 24 * 60,
      soak: gates.soak,
      retention: '7d',
    },
    services: {
      users: {
        description: 'Accounts and profiles.',
        target: {url: stores.users},
        isolation: 'own-server',
        entities: [
          {
            source: 'users',
            target: 'users',
            key: ['id'],
            columns: {
              id: 'id',
              email: 'email',
              name: 'full_name',
              password_hash: 'password_hash',
              created_at: 'created_at',
              updated_at: 'updated_at',
              is_active: 'is_active',
              country: 'country',
              loyalty_points: {from: 'loyalty_points', cast: 'bigint'},
              balance: 'balance',
              preferences: 'preferences',
              avatar: 'avatar',
              external_id: 'external_id',
            },
            sensitive: ['password_hash'],
          },
        ],
      },
      orders: {
        description: 'Orders and their lines.',
        target: {url: stores.orders},
        isolation: 'own-server',
        entities: [
          {source: 'orders', target: 'orders', key: ['id']},
          {source: 'order_items', target: 'order_lines', key: ['order_id', 'line_no']},
        ],
      },
    },
  }
}

/** The demo plan, validated like a plan file. */
export function demoPlan(stores: DemoStores, gates?: DemoGates): Plan {
  return validatePlan(demoPlanInput(stores, gates), 'demo plan', {})
}
