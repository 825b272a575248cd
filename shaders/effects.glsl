// Post effects: the transition's output picture (float, before brightness) → the output picture,
// and the trail state for the next frame. Runs only when an effect is on (render/effects.py); each
// stage is skipped at its neutral value, so a stage at 0 leaves the picture bit-identical.
// Order: warp (spin, swirl, kaleidoscope) → trails (feedback) → hue → contrast pulse → flash →
// strobe → vignette → brightness and blackout (blackout always wins).
#if defined VERTEX_SHADER
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // (0,0) (2,0) (0,2)
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
in vec2 uv;
layout(location = 0) out vec4 color;
layout(location = 1) out vec4 trail_out;
uniform sampler2D picture;
uniform sampler2D trail;
uniform vec2 aspect;         // (width / height, 1): effects stay round on a wide picture
uniform float kaleido;       // segments: 0 off, 1 mirror, 2 four-way, n wedge pairs
uniform float swirl;
uniform float angle;         // radians
uniform float trail_keep;
uniform float hue;           // turns
uniform float contrast;
uniform float flash;
uniform float strobe;
uniform float vignette;
uniform float brightness;
uniform float blackout;
const float PI = 3.14159265358979;

mat2 rot(float a) { float c = cos(a), s = sin(a); return mat2(c, s, -s, c); }

vec2 warp(vec2 p) {  // p: centred, aspect-correct
    if (angle != 0.0) p = rot(angle) * p;
    if (swirl != 0.0) {
        float fall = max(0.0, 1.0 - length(p) / 0.9);
        p = rot(swirl * 2.0 * PI * fall * fall) * p;
    }
    if (kaleido >= 3.0) {
        float wedge = PI / kaleido;
        float a = atan(p.y, p.x);
        a = wedge - abs(mod(a, 2.0 * wedge) - wedge);
        p = length(p) * vec2(cos(a), sin(a));
    } else if (kaleido >= 2.0) {
        p = abs(p);
    } else if (kaleido >= 1.0) {
        p.x = abs(p.x);
    }
    return p;
}

void main() {
    vec3 rgb;
    if (kaleido >= 1.0 || swirl != 0.0 || angle != 0.0) {
        vec2 q = warp((uv - 0.5) * aspect) / aspect + 0.5;
        q = 1.0 - abs(1.0 - mod(q, 2.0));  // mirror at the edges: no smeared border
        rgb = texture(picture, q).rgb;
    } else {
        rgb = texelFetch(picture, ivec2(gl_FragCoord.xy), 0).rgb;  // exact
    }
    if (trail_keep > 0.0) rgb = mix(rgb, texelFetch(trail, ivec2(gl_FragCoord.xy), 0).rgb, trail_keep);
    trail_out = vec4(rgb, 1.0);
    if (hue != 0.0) {  // rotate the chroma plane of YIQ
        const mat3 TO_YIQ = mat3(0.299, 0.596, 0.211, 0.587, -0.274, -0.523, 0.114, -0.322, 0.312);
        const mat3 TO_RGB = mat3(1.0, 1.0, 1.0, 0.956, -0.272, -1.106, 0.621, -0.647, 1.703);
        vec3 yiq = TO_YIQ * rgb;
        yiq.yz = rot(2.0 * PI * hue) * yiq.yz;
        rgb = clamp(TO_RGB * yiq, 0.0, 1.0);
    }
    if (contrast != 1.0) rgb = clamp((rgb - 0.5) * contrast + 0.5, 0.0, 1.0);
    if (flash > 0.0) rgb = mix(rgb, vec3(1.0), flash);
    if (strobe > 0.0) rgb = mix(rgb, vec3(1.0), strobe);
    if (vignette > 0.0) {
        float d = length((uv - 0.5) * aspect) / length(0.5 * aspect);  // 1 at the corners
        rgb *= 1.0 - vignette * smoothstep(0.35, 1.0, d);
    }
    color = vec4(rgb * brightness * (1.0 - blackout), 1.0);
}
#endif
