using InsideLLMs.Distributed.Silo.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddInsideLlmsSilo(args);

var app = builder.Build();
app.MapSiloEndpoints();
app.Lifetime.ApplicationStarted.Register(() => app.ReportListeningAddresses());
app.Run();
