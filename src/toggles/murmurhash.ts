/**
 * MurmurHash3, x86 32-bit flavour, exactly as the `murmurhash3js` package
 * computes it (the package unleash-client uses for every rollout decision):
 * each UTF-16 code unit contributes its low byte, and the length mixed in at
 * the end is the string's `.length`. For ASCII ids this is the reference
 * MurmurHash3 of the UTF-8 bytes; for other characters it is what Unleash
 * does, which is what matters here — a user must land on the same side with
 * either toggle provider.
 */
export function murmurhash3x86_32(key: string, seed = 0): number {
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  const remainder = key.length % 4
  const bytes = key.length - remainder
  let h1 = seed | 0
  let k1 = 0
  let i = 0
  for (; i < bytes; i += 4) {
    k1 =
      (key.charCodeAt(i) & 0xff) |
      ((key.charCodeAt(i + 1) & 0xff) << 8) |
      ((key.charCodeAt(i + 2) & 0xff) << 16) |
      ((key.charCodeAt(i + 3) & 0xff) << 24)
    k1 = Math.imul(k1, c1)
    k1 = (k1 << 15) | (k1 >>> 17)
    k1 = Math.imul(k1, c2)
    h1 ^= k1
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
  }
  k1 = 0
  switch (remainder) {
    case 3:
      k1 ^= (key.charCodeAt(i + 2) & 0xff) << 16
    // falls through
    case 2:
      k1 ^= (key.charCodeAt(i + 1) & 0xff) << 8
    // falls through
    case 1:
      k1 ^= key.charCodeAt(i) & 0xff
      k1 = Math.imul(k1, c1)
      k1 = (k1 << 15) | (k1 >>> 17)
      k1 = Math.imul(k1, c2)
      h1 ^= k1
  }
  h1 ^= key.length
  h1 ^= h1 >>> 16
  h1 = Math.imul(h1, 0x85ebca6b)
  h1 ^= h1 >>> 13
  h1 = Math.imul(h1, 0xc2b2ae35)
  h1 ^= h1 >>> 16
  return h1 >>> 0
}
