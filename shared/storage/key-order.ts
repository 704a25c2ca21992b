/**
 * Orders keys the way S3 lists them: by the bytes of their UTF-8 encoding, which is code point
 * order. Plain `<` on JS strings compares UTF-16 code units and disagrees for characters above
 * U+FFFF, so every store and every merge of listings uses this instead.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Surrogates (code points above U+FFFF) sort below U+E000..U+FFFF in UTF-16 but above them in
// UTF-8; moving them to the top of the unit range makes unit order match code point order.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
