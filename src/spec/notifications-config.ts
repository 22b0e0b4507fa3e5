/**
 * The worker config's `notifications:` section (docs/notifications.md): what the SSRF guard lets through, how often and
 * how long a webhook delivery is tried. The workers serving cluster queues apply `allow`, `allowHttp`, `timeoutSeconds`
 * and `maxResponseBytes` when they send; the workers serving workflows hand `retrySchedule` and `webUiUrl` to each
 * delivery workflow, which keeps them in its history.
 */
import { z } from 'zod';
import { parseCidr } from '../notifications/addresses.js';

/** Standard Webhooks' schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. */
export const defaultRetryScheduleSeconds = [
  0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400,
] as const;

const hostName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** One allow-list entry: a CIDR (`10.1.0.0/16`, `fd00::/8`), a single IP address, or a host name. */
const allowEntrySchema = z
  .string()
  .min(1)
  .transform((value) => value.toLowerCase())
  .superRefine((value, ctx) => {
    if (parseCidr(value) !== null || hostName.test(value)) return;
    ctx.addIssue({ code: 'custom', message: `"${value}" is neither a CIDR, an IP address nor a host name` });
  });

export const notificationsConfigSchema = z
  .object({
    /**
     * Destinations the SSRF guard lets through although they are loopback, private, link-local, … : a CIDR or IP
     * address matches the resolved address, a host name matches the URL's host exactly. Allow-listed destinations
     * may also use `http`.
     */
    allow: z.array(allowEntrySchema).max(256).default([]),
    /** Allow `http` to any destination the guard lets through (default: `https` only, unless allow-listed). */
    allowHttp: z.boolean().default(false),
    /**
     * Delay before each try of an event, in seconds: the first entry before the first try (normally 0), then one per
     * retry. Fractions are allowed (tests compress the schedule).
     */
    retrySchedule: z
      .array(
        z
          .number()
          .nonnegative()
          .max(7 * 86400),
      )
      .min(1, 'at least one try')
      .max(50)
      .default([...defaultRetryScheduleSeconds]),
    /** Time allowed for one request, from connecting to the end of the response body. */
    timeoutSeconds: z.number().positive().max(120).default(15),
    /** Most bytes of a response body read (the rest is discarded; only the status matters). */
    maxResponseBytes: z.number().int().positive().max(1_048_576).default(4096),
    /** The longest `Retry-After` honoured; a longer one is cut to this. */
    maxRetryAfterSeconds: z.number().nonnegative().max(86400).default(86400),
    /** Base URL of the Temporal Web UI, for the link in each payload (null: no link). */
    webUiUrl: z
      .url({ protocol: /^https?$/ })
      .nullable()
      .default(null),
  })
  .prefault({});
export type NotificationsConfig = z.infer<typeof notificationsConfigSchema>;
