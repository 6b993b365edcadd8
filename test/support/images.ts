export { makeExt4Image, debugfsWrite, fsckClean, sha256File } from '../../local/images/ext4';
