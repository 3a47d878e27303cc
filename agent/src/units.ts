/**
 * Sizes and numbers exactly as docker prints them: Go's strconv and fmt
 * rounding and docker/go-units' BytesSize and HumanSizeWithPrecision. One
 * module for the stats view and the dashboard, pure and dependency-free so
 * the dashboard's bundle can take it.
 */

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB'];
const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB'];

/** go-units BytesSize: binary units, four significant digits (64.07MiB). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, BINARY_UNITS, 4);
}

/**
 * go-units HumanSizeWithPrecision(x, 3): decimal units, three significant
 * digits (1.05MB, 4.1kB, and 1e+03kB just below a megabyte, as Go does).
 */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, DECIMAL_UNITS, 3);
}

function scaled(
  value: number,
  base: number,
  units: readonly string[],
  digits: number,
): string {
  let size = value;
  let unit = 0;
  while (size >= base && unit < units.length - 1) {
    size /= base;
    unit += 1;
  }
  return `${goGeneral(size, digits)}${units[unit] ?? ''}`;
}

/**
 * The decimal digits of a non-negative double, as Go's strconv holds them:
 * value = 0.d1d2d3... * 10^point, trailing zeros dropped.
 */
interface Decimal {
  digits: string;
  point: number;
}

function toDecimal(value: number): Decimal {
  // 100 significant digits hold the exact expansion of every value this
  // view prints (sizes over powers of 1024, percentages); Go rounds the
  // exact value too.
  const [mantissa = '0', exponent = '0'] = value.toExponential(99).split('e');
  const digits = mantissa.replace('.', '').replace(/0+$/, '');
  return digits === ''
    ? { digits: '', point: 0 }
    : { digits, point: Number(exponent) + 1 };
}

/** Rounds to `keep` digits, halfway cases to even, as strconv does. */
function roundDecimal(d: Decimal, keep: number): Decimal {
  if (keep < 0 || keep >= d.digits.length) return d;
  const next = d.digits[keep] ?? '0';
  const exactHalf = next === '5' && keep + 1 === d.digits.length;
  const up = exactHalf
    ? keep > 0 && Number(d.digits[keep - 1]) % 2 === 1
    : next >= '5';
  if (!up) {
    return {
      digits: d.digits.slice(0, keep).replace(/0+$/, ''),
      point: d.point,
    };
  }
  let i = keep - 1;
  while (i >= 0 && d.digits[i] === '9') i -= 1;
  if (i < 0) return { digits: '1', point: d.point + 1 };
  const bumped = String(Number(d.digits[i]) + 1);
  return { digits: d.digits.slice(0, i) + bumped, point: d.point };
}

function fixedDigits(d: Decimal, decimals: number): string {
  const digit = (j: number): string =>
    j >= 0 && j < d.digits.length ? (d.digits[j] ?? '0') : '0';
  let integer = '';
  for (let j = 0; j < d.point; j += 1) integer += digit(j);
  let fraction = '';
  for (let i = 0; i < decimals; i += 1) fraction += digit(d.point + i);
  return (
    (integer === '' ? '0' : integer) + (decimals > 0 ? `.${fraction}` : '')
  );
}

/** Go's strconv.FormatFloat(value, 'f', decimals, 64). */
export function goFixed(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return goSpecial(value);
  const sign = value < 0 ? '-' : '';
  const exact = toDecimal(Math.abs(value));
  const rounded = roundDecimal(exact, exact.point + decimals);
  return sign + fixedDigits(rounded, decimals);
}

/** Go's fmt `%.<precision>g`: shortest of %e and %f, no trailing zeros. */
export function goGeneral(value: number, precision: number): string {
  if (!Number.isFinite(value)) return goSpecial(value);
  const sign = value < 0 ? '-' : '';
  const prec = Math.max(precision, 1);
  const d = roundDecimal(toDecimal(Math.abs(value)), prec);
  let eprec = prec;
  if (eprec > d.digits.length && d.digits.length >= d.point) {
    eprec = d.digits.length;
  }
  const exp = d.point - 1;
  if (exp < -4 || exp >= eprec) {
    const shown = Math.min(prec, d.digits.length);
    return sign + exponential(d, shown - 1);
  }
  const shown = prec > d.point ? d.digits.length : prec;
  return sign + fixedDigits(d, Math.max(shown - d.point, 0));
}

function exponential(d: Decimal, decimals: number): string {
  const first = d.digits[0] ?? '0';
  let fraction = '';
  for (let i = 1; i <= decimals; i += 1) fraction += d.digits[i] ?? '0';
  const exp = d.digits === '' ? 0 : d.point - 1;
  const magnitude = String(Math.abs(exp)).padStart(2, '0');
  return (
    first +
    (decimals > 0 ? `.${fraction}` : '') +
    `e${exp < 0 ? '-' : '+'}${magnitude}`
  );
}

function goSpecial(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}
