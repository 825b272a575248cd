// Transition: mixes deck A and deck B into the output picture, with master
// brightness and blackout. fade = 0 shows A, 1 shows B. Both decks' images
// have row 0 at the top (uploaded from the generators). Modes:
//   0 mix       linear crossfade
//   1 additive  A fades out only in the second half, B in only in the first: both at full at 0.5
//   2 luma wipe B appears where its own brightness is below the fade level, with a soft edge
#if defined VERTEX_SHADER
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // (0,0) (2,0) (0,2)
    uv = vec2(p.x, 1.0 - p.y);  // flip: row 0 of the images is their top
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
in vec2 uv;
out vec4 color;
uniform sampler2D deck_a;
uniform sampler2D deck_b;
uniform float fade;          // 0..1
uniform int mode;            // 0 mix, 1 additive, 2 luma wipe
uniform float brightness;
uniform float blackout;
const float SOFT = 0.1;
void main() {
    vec3 a = texture(deck_a, uv).rgb;
    vec3 b = texture(deck_b, uv).rgb;
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
    color = vec4(rgb * brightness * (1.0 - blackout), 1.0);
}
#endif
