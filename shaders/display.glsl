// Display: draws the finished output picture (GL orientation) over the whole
// window, scaled to its size. One full-screen triangle, no vertex buffer.
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
void main() {
    color = vec4(texture(frame, uv).rgb, 1.0);
}
#endif
