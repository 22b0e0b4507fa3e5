/**
 * The resume point of a log capture, heartbeated by the capture activity and parsed back (zod) when a retry starts:
 * upload ids, stored parts and, per stream, the last line stored in the log file and in `events.ndjson`.
 */
import { z } from 'zod';

const cursorSchema = z.object({ ts: z.string(), n: z.number().int().positive() }).nullable();

const uploadSchema = z.object({
  key: z.string(),
  uploadId: z.string().nullable(),
  parts: z.array(z.object({ partNumber: z.number().int().positive(), etag: z.string(), size: z.number() })),
  bytes: z.number().int().nonnegative(),
  completed: z.boolean(),
});
/** One file's multipart upload as far as it is stored. */
export type UploadState = z.infer<typeof uploadSchema>;

const streamNameSchema = z.enum(['stdout', 'stderr', 'combined']);

/** The resume point heartbeated by the capture activity: upload ids, stored parts and the last stored line. */
export const captureCheckpointSchema = z.object({
  version: z.literal(1),
  pod: z.string(),
  split: z.boolean(),
  streams: z.array(
    z.object({
      name: streamNameSchema,
      log: uploadSchema,
      /** Last line stored in the log file. */
      logCursor: cursorSchema,
      /** Number of lines stored in the log file. */
      lines: z.number().int().nonnegative(),
      /** Last line covered by an event stored in `events.ndjson`. */
      eventsCursor: cursorSchema,
    }),
  ),
  events: uploadSchema,
  /** Number of events stored in `events.ndjson`. */
  eventCount: z.number().int().nonnegative(),
});
export type CaptureCheckpoint = z.infer<typeof captureCheckpointSchema>;

/** An upload of `key` not started yet. */
export function emptyUpload(key: string): UploadState {
  return { key, uploadId: null, parts: [], bytes: 0, completed: false };
}
