// Realistic half-hourly energy for demo data: a domestic load shape (night trough, morning and
// evening peaks, busier weekend days, more in winter) and a solar generation curve (daylight bell,
// longer and stronger in summer). Energies are exact decimal strings in kWh (3 dp), never floats
// in storage: the floats here only shape the curve before rounding to watt-hours.

export interface HalfHourEnergy {
  importKwh: string;
  exportKwh: string | null;
}

const DAY_MS = 86_400_000;

/** 0 in mid-summer, 1 in mid-winter (northern hemisphere), by day of year. */
function winterness(at: Date): number {
  const start = Date.UTC(at.getUTCFullYear(), 0, 1);
  const dayOfYear = (at.getTime() - start) / DAY_MS;
  return (1 + Math.cos((2 * Math.PI * (dayOfYear - 15)) / 365.25)) / 2;
}

/** Local (Europe/London) hour as a fraction, and whether it is a weekend day. */
function londonClock(at: Date): { hour: number; weekend: boolean } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/London',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const hour = Number(get('hour')) + Number(get('minute')) / 60;
  return { hour, weekend: ['Sat', 'Sun'].includes(get('weekday')) };
}

const bump = (hour: number, centre: number, width: number) => Math.exp(-(((hour - centre) / width) ** 2));

/** Mean household demand in kWh for the half-hour starting at `at`, before noise. */
export function demandKwh(at: Date, scale: number): number {
  const { hour, weekend } = londonClock(at);
  const base = 0.12 + 0.1 * winterness(at);
  const morning = bump(hour, weekend ? 9.5 : 7.5, 1.3) * (weekend ? 0.35 : 0.3);
  const midday = bump(hour, 13, 3) * (weekend ? 0.25 : 0.08);
  const evening = bump(hour, 18.5, 2) * (0.45 + 0.25 * winterness(at));
  return scale * (base + morning + midday + evening);
}

/** Solar generation in kWh for the half-hour starting at `at`, for a system of `kwp` kW peak. */
export function solarKwh(at: Date, kwp: number, cloudiness: number): number {
  const { hour } = londonClock(at);
  const summer = 1 - winterness(at);
  const halfDay = 4 + 4 * summer; // daylight from ~4 h either side of 13:00 in winter to ~8 h in summer
  const x = (hour + 0.25 - 13) / halfDay;
  if (Math.abs(x) >= 1) return 0;
  const peakKw = kwp * (0.25 + 0.6 * summer) * (1 - 0.7 * cloudiness);
  return (peakKw * Math.cos((x * Math.PI) / 2) ** 2) / 2;
}

/** Rounds kWh to whole watt-hours and formats it exactly. */
export function kwh(value: number): string {
  const wh = Math.max(0, Math.round(value * 1000));
  return `${Math.floor(wh / 1000)}.${String(wh % 1000).padStart(3, '0')}`;
}
