// A small WordPiece tokenizer (BERT's algorithm: lower-case, split on spaces and punctuation, then
// greedy longest-match into vocabulary pieces, '##' marking a piece inside a word) over a
// vocabulary of 1000 entries sized for the demo's encoder (vocab = 1000): BERT's special ids
// ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102), common English words, then letters and '##' letters
// so every word splits into known pieces.
const WORDS = `the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by hot word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make thing
see him two has look more day could go come did number sound no most people my over know water than call
first who may down side been now find any new work part take get place made live where after back little
only round man year came show every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too same tell does set three want
air well also play small end put home read hand port large spell add even land here must big high such
follow act why ask men change went light kind off need house picture try us again animal point mother world
near build self earth father head stand own page should country found answer school grow study still learn
plant cover food sun four between state keep eye never last let thought city tree cross farm hard start might
story saw far sea draw left late run while press close night real life few north open seem together next
white children begin got walk example ease paper group always music those both mark often letter until mile
river car feet care second book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red list though
feel talk bird soon body dog family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told knew pass since top whole
king space heard best hour better true during hundred five remember step early hold west ground interest reach
fast verb sing listen six table travel less morning ten simple several vowel toward war lay against pattern
slow center love person money serve appear road map rain rule govern pull cold notice voice unit power town
fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able pound
done beauty drive stood contain front teach week final gave green oh quick develop ocean warm free minute
strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel full force
blue object decide surface deep moon island foot system busy test record boat common gold possible plane
stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes distant
fill east paint language among cat mat sat sitting sit ing ed s es er ly`.split(/\s+/);

export const PAD = 0, UNK = 100, CLS = 101, SEP = 102;
const VOCAB_SIZE = 1000;

function buildVocab() {
  const vocab = new Map([['[PAD]', PAD], ['[UNK]', UNK], ['[CLS]', CLS], ['[SEP]', SEP], ['[MASK]', 103]]);
  let next = 1;
  const add = (piece) => {
    if (vocab.has(piece)) return;
    while ([UNK, CLS, SEP, 103].includes(next)) next++;
    if (next >= VOCAB_SIZE) return;
    vocab.set(piece, next++);
  };
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';
  for (const c of letters) add(c);
  for (const c of letters) add(`##${c}`);
  for (const p of '.,!?;:\'"()-') add(p);
  for (const w of WORDS) add(w);
  for (const suffix of ['ing', 'ed', 's', 'es', 'er', 'ly']) add(`##${suffix}`);
  return vocab;
}

export const VOCAB = buildVocab();

function splitWords(text) {
  return text.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .split(/\s+/).flatMap((w) => w.split(/([.,!?;:'"()\-])/)).filter(Boolean);
}

// One word into pieces, greedy longest match; [UNK] when a character has no piece.
function wordPieces(word) {
  const pieces = [];
  let start = 0;
  while (start < word.length) {
    let end = word.length;
    let piece = null;
    while (end > start) {
      const sub = (start > 0 ? '##' : '') + word.slice(start, end);
      if (VOCAB.has(sub)) { piece = sub; break; }
      end--;
    }
    if (piece === null) return ['[UNK]'];
    pieces.push(piece);
    start = end;
  }
  return pieces;
}

/** `text` as [CLS] pieces [SEP], padded to `length`: { pieces, ids, mask } (ids and mask BigInt64Array). */
export function tokenize(text, length = 128) {
  const pieces = ['[CLS]', ...splitWords(text).flatMap(wordPieces)].slice(0, length - 1);
  pieces.push('[SEP]');
  const ids = new BigInt64Array(length);
  const mask = new BigInt64Array(length);
  pieces.forEach((p, i) => { ids[i] = BigInt(VOCAB.get(p) ?? UNK); mask[i] = 1n; });
  return { pieces, ids, mask };
}
