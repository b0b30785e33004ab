/** Target descriptions live with their architecture (src/arch); this module keeps the stub's names for them. */
export type { RegisterSpec, TargetDescription } from '../arch/target-xml.js';
export { FEATURE, assertSupportedTask, describeX86Target } from '../arch/x86_64/target-description.js';
export { assertServableArch } from '../arch/architectures.js';
