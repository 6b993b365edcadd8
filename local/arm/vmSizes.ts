/**
 * VM sizes the local endpoint accepts (a sample of Azure's families that recovered servers
 * commonly use). Locally every size runs with the same small memory (the guests are tiny and
 * the machine has 2 cores); the name is validated so that a typo fails here as in Azure.
 */
const SIZES = new Set(
  [
    'Standard_B1s',
    'Standard_B1ms',
    'Standard_B2s',
    'Standard_B2ms',
    'Standard_B4ms',
    'Standard_D2s_v3',
    'Standard_D4s_v3',
    'Standard_D8s_v3',
    'Standard_D2s_v5',
    'Standard_D4s_v5',
    'Standard_D8s_v5',
    'Standard_D2as_v5',
    'Standard_D4as_v5',
    'Standard_E2s_v5',
    'Standard_E4s_v5',
    'Standard_F2s_v2',
    'Standard_F4s_v2',
    'Standard_DS1_v2',
    'Standard_DS2_v2',
    'Standard_A1_v2',
    'Standard_A2_v2',
  ].map((s) => s.toLowerCase()),
);

export const isKnownVmSize = (size: string): boolean => SIZES.has(size.toLowerCase());
