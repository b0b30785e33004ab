/** Text made safe for a double- or single-quoted attribute of the XML documents gdb reads (qXfer). */
export function xmlAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');
}
