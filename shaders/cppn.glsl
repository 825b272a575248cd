// The CPPN evaluated per pixel: the glsl backend (DESIGN §6, livecppn/render/glsl_backend.py).
// The same network as livecppn/model/generator.py, in fp32, drawn straight into the deck's RGBA8
// texture: row 0 of the texture is the top of the image, as the PBO upload leaves it.
//
// Compiled once per width by glsl_backend.py, with
//   P4         hidden units / 4: the style's width rounded up to a multiple of 32, the padding with
//              zero weights (the loops below take 4 and 8 groups of 4 at a time)
//   TEX_SHIFT  log2 of the weight texture's width in texels
// Everything else a style holds is data: the depth, each layer's activation, the transform, the
// palette switch and the view are uniforms, the weights a texture. Every style of one width (all
// the shipped ones are 128) plays through the same program, so a style swap compiles nothing.
//
// The weights are one RGBA32F texture, read as a line of texels (texel i is at
// (i mod width, i / width)); every vec4 holds four consecutive inputs (or units):
//   [0, 4*P4)       first layer, per group of 4 units j: x weights, y weights, r weights, bias
//   then per hidden layer 1 .. L-1 and the output layer (one group: r, g, b, 0), per group j:
//                   bias, then for each group k of 4 inputs the 4 units' rows (a mat4)
// The first layer's per-frame part (time and audio times their weights) comes in the Frame block,
// computed on the host in fp32 exactly as the torch path does.
#if defined VERTEX_SHADER
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // (0,0) (2,0) (0,2): one full-screen triangle
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
layout(location = 0) out vec4 colour;

uniform sampler2D weights;   // RGBA32F, see above
uniform sampler2D lut;       // palette: 1024 x 1 RGBA8 (livecppn.model.generator.PALETTE_LUT)
uniform vec2 half_size;      // (width, height) / 2 in pixels
uniform float scale;         // 2 pi / the short side: pixel → network coordinates
uniform vec3 view;           // (cos(rotation) * zoom, sin(rotation) * zoom, zoom)
uniform int transform;       // 0 none, 1 mirror, 2 kaleido, 3 polar, 4 tile (cppn.TRANSFORMS)
uniform float symmetry;
uniform bool palette;
uniform int layers;          // hidden layers, 1 .. 16
uniform int activations[16]; // each layer's (ACT_*)
layout(std140) uniform Frame {
    vec4 frame_bias[P4];     // the first layer's per-frame term: W_frame · (time, audio × audio_scale)
};

const float PI = 3.14159265358979;
const int TEX_MASK = (1 << TEX_SHIFT) - 1;
const int BLOCK = 1 + 4 * P4;            // one group of 4 units: bias + P4 mat4 of weights
const int HIDDEN_BASE = 4 * P4;          // after the first layer
const int LAYER_SIZE = P4 * BLOCK;

#define ACT_SIN 0
#define ACT_COS 1
#define ACT_TANH 2
#define ACT_GAUSSIAN 3
#define ACT_SIGMOID 4
#define ACT_RELU 5
#define ACT_IDENTITY 6

vec4 weight(int i) {
    return texelFetch(weights, ivec2(i & TEX_MASK, i >> TEX_SHIFT), 0);
}

vec4 sigmoid(vec4 x) {
    return 1.0 / (1.0 + exp(-clamp(x, -80.0, 80.0)));  // clamped: exp must not overflow to inf
}

// `act` is the same for every pixel of a layer: a uniform branch.
vec4 activate(vec4 x, int act) {
    switch (act) {
        case ACT_SIN: return sin(x);
        case ACT_COS: return cos(x);
        case ACT_TANH: return tanh(clamp(x, -15.0, 15.0));  // drivers that use exp() give inf/inf = NaN past ~44
        case ACT_GAUSSIAN: return exp(-x * x);
        case ACT_SIGMOID: return sigmoid(x);
        case ACT_RELU: return max(x, 0.0);
        default: return x;
    }
}

// cppn.transform_xy, the same formulas in the same order.
vec2 transform_xy(vec2 p) {
    if (transform == 1) {
        return vec2(abs(p.x), symmetry >= 2.0 ? abs(p.y) : p.y);
    }
    if (transform == 2 || transform == 3) {
        float r = sqrt(p.x * p.x + p.y * p.y);
        float theta = atan(p.y, p.x);
        if (transform == 2) {
            float wedge = PI / symmetry;
            float a = wedge - abs(mod(theta, 2.0 * wedge) - wedge);  // folded into [0, wedge]
            return r * vec2(cos(a), sin(a));
        }
        return vec2(r - PI, PI * cos(symmetry * theta));
    }
    if (transform == 4) {  // asin(sin(.)): a triangle wave
        vec2 s = sin(p * (symmetry / 2.0));
        // asin through atan: Mesa's asin() is a short polynomial, off by ~1e-4 (a level or two of colour)
        return (2.0 / symmetry) * atan(s, sqrt((1.0 - s) * (1.0 + s)));
    }
    return p;
}

mat4 rows(int i) {  // 4 units' weights on 4 inputs: x * rows(i) is 4 dot products
    return mat4(weight(i), weight(i + 1), weight(i + 2), weight(i + 3));
}

vec4 h[2 * P4];  // the hidden state, two halves: each layer reads one and writes the other

// Few loop iterations, much work in each: four groups of units per outer iteration (they share each
// load of h) and eight groups of inputs per inner one. A software driver may cap the loop iterations
// of one pixel (llvmpipe ends every loop after 65535 iterations in all); with these steps the biggest
// style the format allows, 16 x 1024, takes about 33 000 (tests/test_glsl.py renders it).
#define FOUR(u) x = h[src + k + u]; a0 += x * rows(i + 4 * u); a1 += x * rows(i + BLOCK + 4 * u); a2 += x * rows(i + 2 * BLOCK + 4 * u); a3 += x * rows(i + 3 * BLOCK + 4 * u);
#define ONE(u) out4 += h[src + k + u] * rows(i + 4 * u);

// One hidden layer: h[dst ..] = act(W · h[src ..] + b).
void hidden(int layer, int src, int dst, int act) {
    int base = HIDDEN_BASE + (layer - 1) * LAYER_SIZE;
    for (int j = 0; j < P4; j += 4) {
        int i = base + j * BLOCK;
        vec4 a0 = weight(i);
        vec4 a1 = weight(i + BLOCK);
        vec4 a2 = weight(i + 2 * BLOCK);
        vec4 a3 = weight(i + 3 * BLOCK);
        vec4 x;
        i += 1;
        for (int k = 0; k < P4; k += 8) {
            FOUR(0) FOUR(1) FOUR(2) FOUR(3) FOUR(4) FOUR(5) FOUR(6) FOUR(7)
            i += 32;
        }
        h[dst + j] = activate(a0, act);
        h[dst + j + 1] = activate(a1, act);
        h[dst + j + 2] = activate(a2, act);
        h[dst + j + 3] = activate(a3, act);
    }
}

void main() {
    // Pixel centre → network coordinates, as cppn.coordinate_grid: y grows downwards from row 0.
    vec2 p = transform_xy((gl_FragCoord.xy - half_size) * scale);
    float r = sqrt(p.x * p.x + p.y * p.y);
    // The view (zoom, rotation) as Generator._update_pixel_part applies it: p' = p @ T.
    vec3 q = vec3(p.x * view.x - p.y * view.y, p.x * view.y + p.y * view.x, r * view.z);

    for (int j = 0; j < P4; ++j) {  // first layer: per-pixel part + this frame's bias
        int i = 4 * j;
        vec4 pixel = weight(i + 3) + q.x * weight(i) + q.y * weight(i + 1) + q.z * weight(i + 2);
        h[j] = activate(pixel + frame_bias[j], activations[0]);
    }
    int src = 0;
    for (int layer = 1; layer < layers; ++layer) {
        hidden(layer, src, P4 - src, activations[layer]);
        src = P4 - src;
    }

    int i = HIDDEN_BASE + (layers - 1) * LAYER_SIZE;  // the output layer: one group (r, g, b, 0)
    vec4 out4 = weight(i);
    i += 1;
    for (int k = 0; k < P4; k += 8) {
        ONE(0) ONE(1) ONE(2) ONE(3) ONE(4) ONE(5) ONE(6) ONE(7)
        i += 32;
    }
    vec3 rgb = sigmoid(out4).rgb;
    if (palette) {  // the first output picks the colour: the nearest of the 1024 entries
        int entry = clamp(int(rgb.r * 1023.0 + 0.5), 0, 1023);
        colour = vec4(texelFetch(lut, ivec2(entry, 0), 0).rgb, 1.0);
    } else {
        colour = vec4(floor(rgb * 255.0 + 0.5) / 255.0, 1.0);  // round to nearest, as the torch path does
    }
}
#endif
