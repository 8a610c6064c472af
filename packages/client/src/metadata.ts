/**
 * Group metadata (room name and topic) travels inside the MLS group context, as an
 * application-defined GroupContext extension: only members can read it, every member agrees on
 * it per epoch, and changing it is a commit like any other. The Matrix room state carries no
 * name or topic in clear.
 *
 * Extension type 0xff00 is in RFC 9420's private-use range (0xf000–0xffff). Its body is UTF-8
 * JSON `{"name"?: string, "topic"?: string}`. Every Trellis leaf lists the type in its
 * capabilities, which RFC 9420 requires of each member before the extension may be set.
 */
import type { Extension, GroupState } from '@trellis/mls';

export const GROUP_METADATA_EXTENSION = 0xff00;

/** The extension types every Trellis device declares it supports. */
export const TRELLIS_CAPABILITIES = { extensions: [GROUP_METADATA_EXTENSION] };

/** Longest name or topic kept; a longer one from a peer is cut (it is only a display string). */
const MAX_FIELD = 4096;

export interface GroupMetadata {
  readonly name?: string;
  readonly topic?: string;
}

export function metadataExtension(metadata: GroupMetadata): Extension {
  const body: GroupMetadata = {
    ...(metadata.name !== undefined && { name: metadata.name }),
    ...(metadata.topic !== undefined && { topic: metadata.topic }),
  };
  return {
    extensionType: GROUP_METADATA_EXTENSION,
    extensionData: new TextEncoder().encode(JSON.stringify(body)),
  };
}

/** The metadata of a group context's extensions; empty when absent or unreadable. */
export function metadataOf(extensions: readonly Extension[]): GroupMetadata {
  const ext = extensions.find((e) => e.extensionType === GROUP_METADATA_EXTENSION);
  if (!ext) return {};
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(ext.extensionData));
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const { name, topic } = value as Record<string, unknown>;
  return {
    ...(typeof name === 'string' && { name: name.slice(0, MAX_FIELD) }),
    ...(typeof topic === 'string' && { topic: topic.slice(0, MAX_FIELD) }),
  };
}

/** The group context's extensions with the metadata set to `metadata` (others kept). */
export function withMetadata(state: GroupState, metadata: GroupMetadata): Extension[] {
  return [
    ...state.context.extensions.filter((e) => e.extensionType !== GROUP_METADATA_EXTENSION),
    metadataExtension(metadata),
  ];
}

export function sameMetadata(a: GroupMetadata, b: GroupMetadata): boolean {
  return a.name === b.name && a.topic === b.topic;
}
