const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * A Kubernetes quantity ("500m", "2", "256Mi", "1e3") as a number of base units (cores, bytes).
 * Throws on anything else: the CRD's pattern already refuses malformed quantities, and the agent's
 * configuration reports the error as its own.
 */
export function parseQuantity(quantity: number | string | undefined): number {
  if (quantity === undefined) return 0;
  if (typeof quantity === 'number') return quantity;
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?\d+))$/.exec(
    quantity.trim(),
  );
  if (!match) throw new Error(`not a quantity: ${quantity}`);
  const value = Number(match[1]);
  if (match[2]) return value * (BINARY[match[2]] ?? 1);
  if (match[4] !== undefined) return value * 10 ** Number(match[4]);
  return value * (DECIMAL[match[3] ?? ''] ?? 1);
}
