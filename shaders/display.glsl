// Display: samples a picture texture (any resolution) over the whole target,
// scaled to its size, with master brightness and blackout. Used twice a frame:
// the generator's image → the output picture (flip_y: its row 0 is the top),
// then the output picture → the window (GL orientation, no flip).
// One full-screen triangle, no vertex buffer.
#if defined VERTEX_SHADER
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // (0,0) (2,0) (0,2)
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
in vec2 uv;
out vec4 color;
uniform sampler2D frame;
uniform bool flip_y;
uniform float brightness;    // x
uniform float blackout;      // 0 = picture, 1 = black
void main() {
    vec3 rgb = texture(frame, flip_y ? vec2(uv.x, 1.0 - uv.y) : uv).rgb;
    color = vec4(rgb * brightness * (1.0 - blackout), 1.0);
}
#endif
