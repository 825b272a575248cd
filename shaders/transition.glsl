// Transition: mixes deck A and deck B into the output picture, with master
// brightness and blackout. fade = 0 shows A, 1 shows B. Both decks' images
// have row 0 at the top (uploaded from the generators). Modes:
//   0 mix       linear crossfade
//   1 additive  A fades out only in the second half, B in only in the first: both at full at 0.5
//   2 luma wipe B appears where its own brightness is below the fade level, with a soft edge
//
// Compiled with EFFECTS defined, the same pass also applies the post effects (render/effects.py),
// in this order: warp (SPIN, SWIRL, KALEIDO: where the decks are sampled) → mix → TRAILS (the
// previous frames' trail mixed in) → HUE → CONTRAST pulse → WHITE (flash and strobe) →
// VIGNETTE → brightness and blackout (blackout always wins). Only the stages that are on are
// compiled in (a software GL driver runs every line of a shader, taken branch or not), so an
// effect at 0 is simply not there: the picture is bit-identical. One pass, not a second one
// over the output: on a software GL driver a full-size pass costs more than the effects.
// TRAIL_PASS: the same warp, mix and trail, written to the small trail texture for the next frame
// (the trail is history: a quarter of the output's width and height is enough, and cheap).
#if defined VERTEX_SHADER
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // (0,0) (2,0) (0,2)
    uv = vec2(p.x, 1.0 - p.y);  // flip: row 0 of the images is their top
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
in vec2 uv;
layout(location = 0) out vec4 color;
uniform sampler2D deck_a;
uniform sampler2D deck_b;
uniform float fade;          // 0..1
uniform int mode;            // 0 mix, 1 additive, 2 luma wipe
uniform float brightness;
uniform float blackout;
const float SOFT = 0.1;

#if defined EFFECTS
uniform vec2 aspect;         // (width / height, 1): effects stay round on a wide picture
uniform float kaleido;       // segments: 1 mirror, 2 four-way, n wedge pairs
uniform float swirl;
uniform float angle;         // radians
uniform float hue;           // turns
uniform float contrast;
uniform float white;         // flash and strobe together
uniform float vignette;
const float PI = 3.14159265358979;

mat2 rot(float a) { float c = cos(a), s = sin(a); return mat2(c, s, -s, c); }

vec2 warp(vec2 p) {  // p: centred, aspect-correct
#if defined SPIN
    p = rot(angle) * p;
#endif
#if defined SWIRL
    float fall = max(0.0, 1.0 - length(p) / 0.9);
    p = rot(swirl * 2.0 * PI * fall * fall) * p;
#endif
#if defined KALEIDO
    if (kaleido >= 3.0) {
        float wedge = PI / kaleido;
        float a = atan(p.y, p.x);
        a = wedge - abs(mod(a, 2.0 * wedge) - wedge);
        p = length(p) * vec2(cos(a), sin(a));
    } else if (kaleido >= 2.0) {
        p = abs(p);
    } else {
        p.x = abs(p.x);
    }
#endif
    return p;
}
#if defined TRAILS || defined TRAIL_PASS
uniform sampler2D trail;     // the trail the previous frame wrote
uniform float trail_keep;
#endif
#endif

void main() {
    vec2 q = uv;
#if defined SPIN || defined SWIRL || defined KALEIDO
    q = warp((uv - 0.5) * aspect) / aspect + 0.5;
    q = 1.0 - abs(1.0 - mod(q, 2.0));  // mirror at the edges: no smeared border
#endif
    vec3 a = texture(deck_a, q).rgb;
    vec3 b = texture(deck_b, q).rgb;
    vec3 rgb;
    if (mode == 1) {
        rgb = min(a * clamp(2.0 - 2.0 * fade, 0.0, 1.0) + b * clamp(2.0 * fade, 0.0, 1.0), vec3(1.0));
    } else if (mode == 2) {
        float luma = dot(b, vec3(0.2126, 0.7152, 0.0722));
        float edge = fade * (1.0 + 2.0 * SOFT) - SOFT;  // sweeps the whole 0..1 luma range with its soft edge
        rgb = mix(a, b, 1.0 - smoothstep(edge - SOFT, edge + SOFT, luma));
    } else {
        rgb = mix(a, b, fade);
    }
#if defined EFFECTS
#if defined TRAILS || defined TRAIL_PASS
    rgb = mix(rgb, texture(trail, vec2(uv.x, 1.0 - uv.y)).rgb, trail_keep);
#endif
#if defined TRAIL_PASS
    color = vec4(rgb, 1.0);
    return;
#endif
#if defined HUE  // rotate the chroma plane of YIQ
    const mat3 TO_YIQ = mat3(0.299, 0.596, 0.211, 0.587, -0.274, -0.523, 0.114, -0.322, 0.312);
    const mat3 TO_RGB = mat3(1.0, 1.0, 1.0, 0.956, -0.272, -1.106, 0.621, -0.647, 1.703);
    vec3 yiq = TO_YIQ * rgb;
    yiq.yz = rot(2.0 * PI * hue) * yiq.yz;
    rgb = clamp(TO_RGB * yiq, 0.0, 1.0);
#endif
#if defined CONTRAST
    rgb = clamp((rgb - 0.5) * contrast + 0.5, 0.0, 1.0);
#endif
#if defined WHITE
    rgb = mix(rgb, vec3(1.0), white);
#endif
#if defined VIGNETTE
    float d = length((uv - 0.5) * aspect) / length(0.5 * aspect);  // 1 at the corners
    rgb *= 1.0 - vignette * smoothstep(0.35, 1.0, d);
#endif
#endif
    color = vec4(rgb * brightness * (1.0 - blackout), 1.0);
}
#endif
