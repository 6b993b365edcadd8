// Loaded with `node --require` into the Azurite child process (see startAzurite): it patches
// the emulator's cost, not its behaviour, before Azurite's own modules run.
import { installBlobLookup } from './azuriteBlobLookup';
import { installGcInterval } from './azuriteGcInterval';
import { installIndexedRemove } from './azuriteIndexedRemove';
import { installKeyedLookup } from './azuriteKeyedLookup';
import { installPageRangeSearch } from './azuritePageRangeSearch';
import { installPooledUuidRandom } from './azuriteRandomIds';
import { installUriTemplateCache } from './azuriteUriTemplates';

installPageRangeSearch();
installBlobLookup();
installKeyedLookup();
installIndexedRemove();
installUriTemplateCache();
installPooledUuidRandom();
installGcInterval();
