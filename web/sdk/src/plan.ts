// Part plans, mirrored from shared/src/plan.rs (`PartPlan`): the coordinator decides the plan,
// but it honours a valid part-size hint, so the client can predict it and hash every part in
// the same pass as the whole file.

export const MIB = 1024 * 1024;
export const S3_MIN_PART_SIZE = 5 * MIB;
export const S3_MAX_PART_SIZE = 5 * 1024 * MIB;
export const S3_MAX_PARTS = 10_000;
/** Cloudflare's default request-body limit (the coordinator's `MAX_PART_BYTES` default). */
export const DEFAULT_BODY_LIMIT = 100_000_000;
export const PREFERRED_MIN_PART_SIZE = 8 * MIB;
export const PREFERRED_MAX_PART_SIZE = 16 * MIB;

export interface PartPlan {
  fileSize: number;
  partSize: number;
  partCount: number;
}

const divCeil = (a: number, b: number) => Math.ceil(a / b);
const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

/** `PartPlan::new`: parts of about `preferred` bytes within S3's rules and `bodyLimit`; `null`
 * when the file cannot fit in 10,000 parts under the limit (the coordinator refuses it). */
export function planParts(fileSize: number, preferred: number, bodyLimit = DEFAULT_BODY_LIMIT): PartPlan | null {
  const maxPart = Math.min(bodyLimit, S3_MAX_PART_SIZE);
  if (maxPart < S3_MIN_PART_SIZE) return null;
  const needed = divCeil(fileSize, S3_MAX_PARTS);
  if (needed > maxPart) return null;
  const rounded = divCeil(clamp(preferred, S3_MIN_PART_SIZE, maxPart), MIB) * MIB;
  const partSize = Math.min(Math.max(rounded, needed), maxPart);
  return { fileSize, partSize, partCount: divCeil(fileSize, partSize) };
}

/** `PartPlan::preferred_part_size`: enough parts to keep `threads` requests busy several times
 * over, within [8 MiB, 16 MiB]; a file too small to give each connection an 8 MiB part gets
 * smaller ones, down to S3's 5 MiB floor (on a lossy path each connection is held to its own
 * loss bound, so the connection count fills the link). At most 5 MiB: one part, nominally 8 MiB. */
export function preferredPartSize(fileSize: number, threads: number): number {
  const t = Math.max(1, threads);
  const spread = clamp(divCeil(fileSize, t * 4), PREFERRED_MIN_PART_SIZE, PREFERRED_MAX_PART_SIZE);
  if (fileSize <= S3_MIN_PART_SIZE || divCeil(fileSize, spread) >= t) return spread;
  return clamp(divCeil(fileSize, t), S3_MIN_PART_SIZE, spread);
}

/** Byte length of part `n` (1-based), or `null` outside the plan. */
export function partLen(plan: PartPlan, n: number): number | null {
  if (!Number.isInteger(n) || n < 1 || n > plan.partCount) return null;
  const offset = (n - 1) * plan.partSize;
  return Math.min(plan.fileSize - offset, plan.partSize);
}

/** Byte offset of part `n` (1-based), or `null` outside the plan. */
export function partOffset(plan: PartPlan, n: number): number | null {
  return partLen(plan, n) === null ? null : (n - 1) * plan.partSize;
}

export function partNumbers(plan: PartPlan): number[] {
  return Array.from({ length: plan.partCount }, (_, i) => i + 1);
}

export function samePlan(a: PartPlan | null | undefined, b: PartPlan | null | undefined): boolean {
  return !!a && !!b && a.fileSize === b.fileSize && a.partSize === b.partSize && a.partCount === b.partCount;
}
