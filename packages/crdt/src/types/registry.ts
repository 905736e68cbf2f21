import type { MutationKind } from '../mutation.js';
import { counter } from './counter.js';
import type { CrdtType, TypeName } from './crdt-type.js';
import { document } from './document.js';
import { mvRegister } from './mv-register.js';
import { orSet } from './or-set.js';
import { register } from './register.js';
import { yjs } from './yjs.js';

/** Every type, by name. */
export const TYPES: Readonly<Record<TypeName, CrdtType<unknown>>> = {
  register: register as CrdtType<unknown>,
  mv: mvRegister as CrdtType<unknown>,
  document: document as CrdtType<unknown>,
  counter: counter as CrdtType<unknown>,
  set: orSet as CrdtType<unknown>,
  yjs: yjs as CrdtType<unknown>,
};

/** The type each value-carrying mutation writes. */
export const TYPE_OF_KIND: Readonly<Record<Exclude<MutationKind, 'del'>, TypeName>> = {
  set: 'register',
  mvset: 'mv',
  patch: 'document',
  incr: 'counter',
  add: 'set',
  remove: 'set',
  yjs: 'yjs',
};

/** Type names in their fixed code order (snapshots store the code). */
export const TYPE_NAMES: readonly TypeName[] = ['register', 'mv', 'document', 'counter', 'set', 'yjs'];
