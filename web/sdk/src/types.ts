// Wire shapes of the coordinator's answers (shared/src/protocol.rs, shared/src/state.rs).

export interface EdgeInfo {
  id: string;
  url: string;
  latency?: number;
  load?: number;
  distance?: number;
  /** Share of the parts this edge should take; the weights sum to 1. */
  weight: number;
  bandwidth?: number;
}

export interface UploadTicket {
  fileId: string;
  sessionId: string;
  partSize: number;
  partCount: number;
  uploadToken: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export interface Duplicate {
  fileId: string;
  url: string;
  /** The stored file's declared `sha256:<hex>`. */
  sha256?: string;
  savedBytes?: number;
  savedCost?: number;
  message?: string;
}

export interface OptimalEdgesResponse {
  strategy?: { chunkSize: number; threads: number; compression: string; estimatedTime: number; estimatedCost: number };
  edges: EdgeInfo[];
  duplicate: Duplicate | null;
  upload?: UploadTicket;
}

/** The recorded state of a session (derived from the parts the coordinator recorded). */
export interface UploadState {
  fileId: string;
  sessionId: string;
  status: string;
  chunksUploaded: number[];
  chunksRemaining: number[];
  edges: string[];
  progress: number;
  total: number;
  partSize: number;
  partCount: number;
  /** `sha256:<hex>`; `null` until declared (a session opened by content id gets it at finalize). */
  fileHash: string | null;
  /** The content id the session was opened with, if any. */
  contentId?: string | null;
  bytesReceived: number;
  expiresAt: number;
}

export interface ResumeResponse {
  upload: UploadTicket;
  edges: EdgeInfo[];
  state: UploadState;
}

export interface ChunkReceipt {
  partNumber: number;
  size: number;
  sha256: string;
  etag: string;
  edgeId: string;
}

export interface FileInfo {
  id: string;
  url: string;
  size: number;
  sha256: string;
  name?: string;
}

/** One open upload session of the account (`GET /api/jetty/uploads`). Times in ms. */
export interface OpenUpload {
  fileId: string;
  sessionId: string;
  fileName: string | null;
  fileSize: number;
  fileHash: string | null;
  contentId?: string | null;
  partSize: number;
  partCount: number;
  partsDone: number;
  bytesReceived: number;
  createdAt: number;
  expiresAt: number;
}

/** One stored file of the account (`GET /api/files`). `createdAt` in ms. */
export interface StoredFile {
  id: string;
  name: string | null;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: number;
  url: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListOptions {
  prefix?: string;
  limit?: number;
  cursor?: string;
}
