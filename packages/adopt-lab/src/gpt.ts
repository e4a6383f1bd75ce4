/**
 * A small GPT-style decoder written with tfjs ops (causal self-attention, pre-norm blocks, GELU
 * MLPs, an untied output head), for the `charlm` experiment.
 */
import * as tf from '@tensorflow/tfjs';

export interface GptConfig {
  vocab: number;
  width: number;
  layers: number;
  heads: number;
  context: number;
}

let instances = 0;

/** A GPT-style decoder: token and position embeddings, pre-norm blocks, an untied output head. */
export class Gpt {
  readonly variables: tf.Variable[] = [];
  private readonly mask: tf.Tensor;
  private readonly p: Record<string, tf.Variable> = {};

  constructor(
    readonly config: GptConfig,
    seed: number,
  ) {
    const { vocab, width: d, layers, context } = config;
    const id = instances++;
    let k = 0;
    const add = (name: string, value: tf.Tensor) => {
      const v = tf.variable(value, true, `gpt${id}/${name}`);
      this.p[name] = v;
      this.variables.push(v);
    };
    const normal = (shape: number[], std: number) => tf.randomNormal(shape, 0, std, 'float32', seed * 1000 + k++);
    add('tokens', normal([vocab, d], 0.02));
    add('positions', normal([context, d], 0.02));
    for (let l = 0; l < layers; l++) {
      add(`h${l}/ln1/gamma`, tf.ones([d]));
      add(`h${l}/ln1/beta`, tf.zeros([d]));
      add(`h${l}/attn/qkv/kernel`, normal([d, 3 * d], 0.02));
      add(`h${l}/attn/qkv/bias`, tf.zeros([3 * d]));
      add(`h${l}/attn/out/kernel`, normal([d, d], 0.02 / Math.sqrt(2 * layers)));
      add(`h${l}/attn/out/bias`, tf.zeros([d]));
      add(`h${l}/ln2/gamma`, tf.ones([d]));
      add(`h${l}/ln2/beta`, tf.zeros([d]));
      add(`h${l}/mlp/in/kernel`, normal([d, 4 * d], 0.02));
      add(`h${l}/mlp/in/bias`, tf.zeros([4 * d]));
      add(`h${l}/mlp/out/kernel`, normal([4 * d, d], 0.02 / Math.sqrt(2 * layers)));
      add(`h${l}/mlp/out/bias`, tf.zeros([d]));
    }
    add('lnf/gamma', tf.ones([d]));
    add('lnf/beta', tf.zeros([d]));
    add('head/kernel', normal([d, vocab], 0.02));
    // -1e9 above the diagonal: position t attends to positions <= t only
    this.mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([context, context]), -1, 0)), -1e9));
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(
      tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), this.p[`${name}/gamma`]!),
      this.p[`${name}/beta`]!,
    );
  }

  private dense(x: tf.Tensor, name: string, bias = true): tf.Tensor {
    const y = matMul2d(x, this.p[`${name}/kernel`]!);
    return bias ? tf.add(y, this.p[`${name}/bias`]!) : y;
  }

  /** Logits [batch * T, vocab] for token ids [batch, T]. */
  logits(ids: tf.Tensor2D): tf.Tensor2D {
    const [batch, T] = ids.shape;
    const { width: d, heads, layers } = this.config;
    const dh = d / heads;
    // the embedding lookup as a one-hot product: tf.gather's gradient needs UnsortedSegmentSum,
    // which the wasm backend lacks, and with ~80 characters the product is cheap
    const embedded = tf.reshape(
      matMul2d(tf.cast(tf.oneHot(tf.reshape(ids, [-1]), this.config.vocab), 'float32'), this.p['tokens']!),
      [batch, T, d],
    );
    let x = tf.add(embedded, tf.slice(this.p['positions']!, [0, 0], [T, d])); // [B, T, d]
    const mask = tf.slice(this.mask, [0, 0], [T, T]);
    for (let l = 0; l < layers; l++) {
      const h = tf.reshape(this.layerNorm(x, `h${l}/ln1`), [batch * T, d]);
      const qkv = tf.transpose(tf.reshape(this.dense(h, `h${l}/attn/qkv`), [batch, T, 3, heads, dh]), [2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv); // each [B, heads, T, dh]
      const scores = tf.add(tf.div(tf.matMul(q!, k!, false, true), Math.sqrt(dh)), mask);
      const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v!), [0, 2, 1, 3]), [batch * T, d]);
      x = tf.add(x, tf.reshape(this.dense(attended, `h${l}/attn/out`), [batch, T, d]));
      const h2 = tf.reshape(this.layerNorm(x, `h${l}/ln2`), [batch * T, d]);
      const mlp = this.dense(gelu(this.dense(h2, `h${l}/mlp/in`)), `h${l}/mlp/out`);
      x = tf.add(x, tf.reshape(mlp, [batch, T, d]));
    }
    return this.dense(tf.reshape(this.layerNorm(x, 'lnf'), [batch * T, d]), 'head', false) as tf.Tensor2D;
  }

  /** Mean next-character cross-entropy (nats) of a batch. */
  loss(x: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
    return tf.tidy(
      () =>
        tf.losses.softmaxCrossEntropy(tf.oneHot(tf.reshape(y, [-1]), this.config.vocab), this.logits(x)) as tf.Scalar,
    );
  }

  dispose(): void {
    tf.dispose([...this.variables, this.mask]);
  }
}

/**
 * a @ b for 2-D a and b, with gradients computed as dA = dy @ b^T and dB = a^T @ dy through
 * explicit transposes. tfjs's own gradient multiplies with transpose flags, which the wasm
 * backend runs in a naive loop instead of XNNPACK (measured: 2.3 s of a 2.7 s training step).
 */
const matMul2d = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [x, w] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(w)), tf.matMul(tf.transpose(x), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/**
 * tanh approximation of GELU (GPT-2's), 0.5·x·(1 + tanh(z)) with z = √(2/π)·(x + 0.044715·x³),
 * computed as the equal x·sigmoid(2z): tfjs's wasm Tanh is a scalar loop (28 ms for [2048, 640],
 * a tenth of a training step's kernel time at width 160), its Sigmoid takes 1.8 ms, and two
 * elementwise ops fewer run forward and backward.
 */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(
    x,
    tf.sigmoid(tf.mul(2 * Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))))),
  );
}
