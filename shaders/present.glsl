// Present: draws the finished output picture (an offscreen framebuffer's
// texture, GL orientation) over the whole window, scaled to its size.
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
uniform sampler2D picture;
void main() {
    color = vec4(texture(picture, uv).rgb, 1.0);
}
#endif
