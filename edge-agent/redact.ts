/** SDK error texts can echo URLs or connection strings: never let a SAS or credential reach a log. */
export function redact(text: string): string {
  return (
    text
      .replace(/(sig=)[^&\s"';]+/gi, '$1REDACTED')
      .replace(/SharedAccessSignature[^;"'\n]*/g, 'SharedAccessSignature REDACTED')
      .replace(/(SharedAccessKey=)[^;"'\s]+/gi, '$1REDACTED')
      // Machine credentials (hvm.) and enrollment tokens (hvt.).
      .replace(/(hv[mt])\.[A-Za-z0-9-]+\.[A-Za-z0-9_-]{20,}/g, '$1.REDACTED')
  );
}
