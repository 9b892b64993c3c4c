// Sending one part. In a browser, XMLHttpRequest: it streams a Blob body from disk and reports
// upload progress (fetch has no upload progress, and streamed fetch bodies need HTTP/2). Where
// there is no XHR (Node), fetch with the Blob as the body.

import { JettyError } from "./errors.js";

export interface PartRequest {
  url: string;
  /** The upload token. */
  token: string;
  /** Hex SHA-256 of `body`, sent as `x-chunk-sha256`. */
  sha256: string;
  body: Blob;
  /** Body bytes handed to the network so far. */
  onProgress?: (sent: number) => void;
  signal: AbortSignal;
}

export interface PartAnswer {
  status: number;
  text: string;
}

/** Resolves with any HTTP answer; rejects with a `network` JettyError when there is none, or
 * with the signal's reason when aborted. */
export type PartTransport = (req: PartRequest) => Promise<PartAnswer>;

export function xhrTransport(): PartTransport {
  return (req) =>
    new Promise<PartAnswer>((resolve, reject) => {
      if (req.signal.aborted) return reject(req.signal.reason);
      const xhr = new XMLHttpRequest();
      const onAbort = () => xhr.abort();
      req.signal.addEventListener("abort", onAbort, { once: true });
      const settle = () => req.signal.removeEventListener("abort", onAbort);
      xhr.open("PUT", req.url);
      xhr.setRequestHeader("authorization", `Bearer ${req.token}`);
      xhr.setRequestHeader("x-chunk-sha256", req.sha256);
      if (req.onProgress) xhr.upload.onprogress = (e) => req.onProgress?.(e.loaded);
      xhr.onload = () => {
        settle();
        req.onProgress?.(req.body.size);
        resolve({ status: xhr.status, text: xhr.responseText });
      };
      xhr.onerror = () => {
        settle();
        reject(new JettyError("network", `no answer from ${new URL(req.url).host} (connection failed or blocked)`));
      };
      xhr.onabort = () => {
        settle();
        reject(req.signal.reason ?? new JettyError("aborted", "aborted"));
      };
      xhr.send(req.body);
    });
}

export function fetchTransport(fetchImpl: typeof fetch = fetch): PartTransport {
  return async (req) => {
    let resp: Response;
    try {
      resp = await fetchImpl(req.url, {
        method: "PUT",
        headers: { authorization: `Bearer ${req.token}`, "x-chunk-sha256": req.sha256 },
        body: req.body,
        signal: req.signal,
      });
    } catch (e) {
      if (req.signal.aborted) throw req.signal.reason;
      throw new JettyError("network", `no answer from ${new URL(req.url).host}: ${(e as Error)?.message ?? e}`);
    }
    let text: string;
    try {
      text = await resp.text();
    } catch (e) {
      if (req.signal.aborted) throw req.signal.reason;
      throw new JettyError("network", `the answer from ${new URL(req.url).host} was cut off`);
    }
    req.onProgress?.(req.body.size);
    return { status: resp.status, text };
  };
}

export function defaultTransport(fetchImpl?: typeof fetch): PartTransport {
  return typeof XMLHttpRequest !== "undefined" ? xhrTransport() : fetchTransport(fetchImpl);
}

/** Asks an edge whether the store behind it answers (`GET /api/edge/store-check` with the
 * upload token): the status and body, or a thrown error when the edge cannot be reached. */
export type StoreCheck = (edgeUrl: string, token: string, signal: AbortSignal) => Promise<PartAnswer>;

export function storeCheckOver(f: typeof fetch): StoreCheck {
  return async (edgeUrl, token, signal) => {
    let resp: Response;
    try {
      resp = await f(`${edgeUrl.replace(/\/+$/, "")}/api/edge/store-check`, {
        method: "GET",
        headers: { authorization: `Bearer ${token}` },
        signal,
      });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new JettyError("network", `could not reach ${edgeUrl}: ${(e as Error)?.message ?? e}`);
    }
    return { status: resp.status, text: await resp.text() };
  };
}
