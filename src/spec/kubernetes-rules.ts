/**
 * The naming rules Kubernetes applies to the strings an EvaluationJob carries into a cluster (names, labels,
 * annotations, environment variables, Secret keys) and the OCI image reference grammar.
 *
 * Each check returns `undefined` when the value is acceptable and a sentence naming the problem otherwise, so the
 * schema can attach it to the field that holds the value. Patterns are exported as strings because they also go into
 * the CRD's OpenAPI schema, which Kubernetes evaluates with Go's RE2: no look-arounds or back-references here.
 *
 * @packageDocumentation
 */

/** RFC 1123 label, as Kubernetes uses for namespaces and most object names (`IsDNS1123Label`). */
export const dns1123LabelPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain, as Kubernetes uses for Secret names and label-key prefixes (`IsDNS1123Subdomain`). */
export const dns1123SubdomainPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A label value or the name part of a qualified name (`IsValidLabelValue`), without the empty string. */
export const labelValuePattern = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** An environment variable name as every Kubernetes release accepts it (`IsEnvVarName` before 1.34 relaxed it). */
export const envVarNamePattern = '^[-._a-zA-Z][-._a-zA-Z0-9]*$';
/** A key inside a Secret's `data` (`IsConfigMapKey`). */
export const secretKeyPattern = '^[-._a-zA-Z0-9]+$';

const dns1123Label = new RegExp(dns1123LabelPattern);
const dns1123Subdomain = new RegExp(dns1123SubdomainPattern);
const labelValue = new RegExp(labelValuePattern);

/** Longest RFC 1123 label. */
export const dns1123LabelMaxLength = 63;
/** Longest RFC 1123 subdomain. */
export const dns1123SubdomainMaxLength = 253;
/** Longest label value and longest name part of a label or annotation key. */
export const labelValueMaxLength = 63;

// distribution/reference's grammar (regexp.go), which kubelet and containerd use to resolve an image.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6Address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6Address})(?::[0-9]+)?`;
const imageName = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const imageTag = '[\\w][\\w.-]{0,127}';
const imageDigest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/** An OCI image reference: `[registry[:port]/]repository[:tag][@digest]`, as `docker pull` and kubelet accept it. */
export const imageReferencePattern = `^(${imageName})(?::${imageTag})?(?:@${imageDigest})?$`;
const imageReference = new RegExp(imageReferencePattern);
/** distribution/reference caps the repository name (registry included) at 255 characters. */
export const imageNameMaxLength = 255;

/** Quotes a value for an error message, shortened so a pasted blob cannot flood the terminal. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(shown);
}

/**
 * Checks an RFC 1123 label (lowercase alphanumerics and `-`, alphanumeric at both ends).
 * @param what - what the value names, for the message (e.g. `"team name"`).
 */
export function checkDns1123Label(
  value: string,
  what: string,
  maxLength = dns1123LabelMaxLength,
): string | undefined {
  if (value.length > maxLength) return `${what} ${quote(value)} is longer than ${maxLength} characters`;
  if (!dns1123Label.test(value)) {
    const hint = /[A-Z]/.test(value) ? ' (uppercase letters are not allowed)' : '';
    return (
      `${quote(value)} is not a valid ${what}: use lowercase letters, digits and "-", ` +
      `starting and ending with a letter or digit${hint}`
    );
  }
  return undefined;
}

/** Checks an RFC 1123 subdomain (dot-separated labels, at most 253 characters). */
export function checkDns1123Subdomain(value: string, what: string): string | undefined {
  if (value.length > dns1123SubdomainMaxLength) {
    return `${what} ${quote(value)} is longer than ${dns1123SubdomainMaxLength} characters`;
  }
  if (!dns1123Subdomain.test(value)) {
    return `${quote(value)} is not a valid ${what}: use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Checks a label value: empty, or up to 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends. */
export function checkLabelValue(value: string, what = 'label value'): string | undefined {
  if (value.length > labelValueMaxLength) {
    return `${what} ${quote(value)} is longer than ${labelValueMaxLength} characters`;
  }
  if (!labelValue.test(value)) {
    return `${quote(value)} is not a valid ${what}: use letters, digits, "-", "_" and ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Checks a label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export function checkQualifiedName(key: string, what = 'key'): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix === '') return `${what} ${quote(key)} has an empty prefix before "/"`;
    const problem = checkDns1123Subdomain(prefix, `${what} prefix`);
    if (problem) return problem;
  }
  if (name === '') return `${what} ${quote(key)} has an empty name`;
  if (name.length > labelValueMaxLength) {
    return `${what} ${quote(key)}: the name after the prefix is longer than ${labelValueMaxLength} characters`;
  }
  if (!labelValue.test(name)) {
    return (
      `${quote(key)} is not a valid ${what}: the name must use letters, digits, "-", "_" and ".", ` +
      `starting and ending with a letter or digit, after an optional DNS prefix and "/"`
    );
  }
  return undefined;
}

// The repository path of a reference, without registry, tag and digest; only the registry may be uppercase.
function repositoryPath(value: string): string[] {
  const withoutDigest = value.split('@')[0] ?? '';
  const tagColon = withoutDigest.indexOf(':', withoutDigest.lastIndexOf('/') + 1);
  const components = (tagColon >= 0 ? withoutDigest.slice(0, tagColon) : withoutDigest).split('/');
  const first = components[0] ?? '';
  const hasRegistry = components.length > 1 && (/[.:]/.test(first) || first === 'localhost');
  return hasRegistry ? components.slice(1) : components;
}

/** Checks an image reference and says what is wrong in the common cases. */
export function checkImageReference(value: string): string | undefined {
  const match = imageReference.exec(value);
  if (!match) {
    let hint = 'expected [registry/]repository[:tag][@digest]';
    if (/\s/.test(value)) hint = 'it contains whitespace';
    else if (value.includes('://')) hint = 'an image reference has no URL scheme';
    else if (repositoryPath(value).some((component) => /[A-Z]/.test(component))) {
      hint = 'repository names must be lowercase';
    }
    return `${quote(value)} is not a valid image reference (${hint})`;
  }
  if ((match[1] ?? '').length > imageNameMaxLength) {
    return `image repository name is longer than ${imageNameMaxLength} characters`;
  }
  return undefined;
}
