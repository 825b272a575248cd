// yuv420: the output picture (GL orientation, RGBA) → the planes of a yuv420p image, for the
// recorder's encoder (render/recorder.py), so the CPU the show shares does no colour conversion.
// Compiled twice: PLANE_Y draws the luma plane (width × height, one channel), PLANE_UV the two
// chroma planes (half size each way, U and V in two channels). Rows come out top row first, the
// encoder's order. BT.601 limited range, chroma the mean of each 2×2 block (one bilinear sample at
// the block's centre): what ffmpeg's converter does. One full-screen triangle, no vertex buffer.
#if defined VERTEX_SHADER
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
uniform sampler2D picture;
uniform ivec2 size;  // the picture's width and height (both even)
#if defined PLANE_Y
out float value;
void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec3 c = texelFetch(picture, ivec2(p.x, size.y - 1 - p.y), 0).rgb;
    value = (16.0 + dot(c, vec3(65.481, 128.553, 24.966))) / 255.0;
}
#else
out vec2 value;
void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);  // the chroma sample: source pixels 2x, 2x+1 of rows 2y, 2y+1 from the top
    vec2 centre = vec2(2 * p.x + 1, size.y - 1 - 2 * p.y) / vec2(size);
    vec3 c = texture(picture, centre).rgb;  // the corner shared by the four: their mean
    value = vec2(128.0 + dot(c, vec3(-37.797, -74.203, 112.0)), 128.0 + dot(c, vec3(112.0, -93.786, -18.214))) / 255.0;
}
#endif
#endif
