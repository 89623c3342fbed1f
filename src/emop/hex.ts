// Hex text <-> bytes, for error messages, logs and test vectors. Whitespace and '|' in input are ignored.

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s|]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new RangeError(`not an even-length hex string: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}
