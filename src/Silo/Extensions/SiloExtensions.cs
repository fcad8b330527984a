using System.Net;
using Orleans.Configuration;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>Silo wiring. Defaults are the one-command local start: localhost clustering, in-memory everything.</summary>
public static class SiloExtensions
{
    /// <summary>Configuration section: <c>Silo:SiloPort</c>, <c>Silo:GatewayPort</c>, <c>Silo:PrimaryPort</c>.</summary>
    public const string Section = "Silo";

    public static WebApplicationBuilder AddInsideLlmsSilo(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Configuration.GetSection(Section).Get<SiloPortOptions>() ?? new SiloPortOptions();
        builder.Services.AddSingleton(options);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(
                siloPort: options.SiloPort,
                gatewayPort: options.GatewayPort,
                primarySiloEndpoint: new IPEndPoint(IPAddress.Loopback, options.PrimaryPort));
            silo.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = "insidellms-local";
                cluster.ServiceId = "insidellms";
            });
        });
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        return builder;
    }

    public static WebApplication MapSiloEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        return app;
    }

    /// <summary>Prints where this silo listens: its web port, the silo-to-silo port and the client gateway.</summary>
    public static void ReportListeningAddresses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var ports = app.Services.GetRequiredService<SiloPortOptions>();
        var urls = string.Join(", ", app.Urls);
        Console.WriteLine($"InsideLLMs silo ready. Web: {urls}. Silo port: {ports.SiloPort}. Client gateway: 127.0.0.1:{ports.GatewayPort}. Primary silo: 127.0.0.1:{ports.PrimaryPort}.");
    }
}

/// <summary>Where a local silo listens. The first silo uses the defaults; later ones pick new silo and gateway ports.</summary>
public sealed class SiloPortOptions
{
    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    public int PrimaryPort { get; set; } = 11111;
}
