var builder = WebApplication.CreateBuilder(args);
builder.UseOrleans(silo => silo.UseLocalhostClustering());
var app = builder.Build();
app.MapGet("/", () => "InsideLLMs.Distributed silo");
app.Run();
