// placeholder translation unit until the tools land
namespace attend::tools {}
