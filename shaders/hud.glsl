// HUD overlay: a rectangle in pixels that shows either the text panel
// (texture drawn by Pillow, alpha-blended) or the audio level meters.
#if defined VERTEX_SHADER
uniform vec4 rect;           // x, y, width, height in pixels from the top-left
uniform vec2 viewport;       // framebuffer size in pixels
out vec2 uv;
void main() {
    vec2 p = vec2(gl_VertexID & 1, (gl_VertexID >> 1) & 1);  // triangle strip corners
    uv = p;
    vec2 px = rect.xy + p * rect.zw;
    gl_Position = vec4(px.x / viewport.x * 2.0 - 1.0, 1.0 - px.y / viewport.y * 2.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
in vec2 uv;
out vec4 color;
uniform int mode;            // 0 = text texture, 1 = level meters
uniform sampler2D panel;
uniform float levels[9];     // audio features in [0, 1], one bar each
void main() {
    if (mode == 0) {
        color = texture(panel, uv);
    } else {
        int i = int(floor(uv.x * 9.0));
        float cell = fract(uv.x * 9.0);
        float level = clamp(levels[i], 0.0, 1.0);
        bool gap = cell > 0.8;
        bool lit = (1.0 - uv.y) < level;
        vec3 hot = mix(vec3(0.2, 0.9, 0.4), vec3(1.0, 0.3, 0.2), 1.0 - uv.y);
        color = gap ? vec4(0.0) : (lit ? vec4(hot, 0.9) : vec4(0.0, 0.0, 0.0, 0.45));
    }
}
#endif
