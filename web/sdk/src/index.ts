// @jettyspeed/sdk: resumable, verified, multi-edge uploads from the browser.

export { JettyClient, type ClientOptions } from "./client.js";
export {
  Upload,
  partDeadlineMs,
  HASH_FIRST_MAX,
  UNNAMED_PARTS,
  type UploadOptions,
  type UploadProgress,
  type UploadResult,
  type UploadEvents,
  type UploadStateName,
} from "./upload.js";
export { JettyError, errorFromAnswer, blame, coordinatorTrouble, type ErrorKind, type Trouble } from "./errors.js";
export { WorkerHasher, InProcessHasher, defaultHasher, type Hasher, type HashOptions, type HashResult } from "./hash.js";
export {
  IndexedDbRecordStore,
  MemoryRecordStore,
  missingParts,
  pickSession,
  normalizeHash,
  recordKey,
  type LocalRecord,
  type RecordStore,
} from "./resume.js";
export { xhrTransport, fetchTransport, type PartTransport, type PartRequest, type PartAnswer } from "./transport.js";
export { PartScheduler, type Assignment, type Action, type Outcome, type SchedulerConfig } from "./scheduler.js";
export { RetryBudget, DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export {
  deviceConnectivity,
  checkedConnectivity,
  probeOrigin,
  whenOnline,
  ALWAYS_ONLINE,
  OFFLINE_PROBE_MS,
  type Connectivity,
} from "./connectivity.js";
export { assignWeighted } from "./weights.js";
export { planParts, preferredPartSize, partLen, partOffset, type PartPlan } from "./plan.js";
export { RateWindow, etaSeconds, formatBytes, formatDuration } from "./progress.js";
export type { EdgeInfo, OpenUpload, StoredFile, Page, ListOptions, UploadState, FileInfo, ChunkReceipt } from "./types.js";
