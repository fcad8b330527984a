using InsideLLMs.Distributed.Grains.Hosting;
using OpenTelemetry.Metrics;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// OpenTelemetry metrics: the training meter next to Orleans' own. <c>Telemetry:Exporter</c> = none (default), console,
/// or otlp (to <c>Telemetry:OtlpEndpoint</c>, default http://localhost:4317).
/// </summary>
public static class TelemetryExtensions
{
    public const string OrleansMeterName = "Microsoft.Orleans";

    public static WebApplicationBuilder AddTrainingTelemetry(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var exporter = (builder.Configuration["Telemetry:Exporter"] ?? "none").Trim().ToLowerInvariant();
        if (exporter is "" or "none")
        {
            return builder;
        }

        if (exporter is not ("console" or "otlp"))
        {
            throw new InvalidOperationException($"Telemetry:Exporter must be none, console or otlp; got '{exporter}'.");
        }

        var endpoint = builder.Configuration["Telemetry:OtlpEndpoint"];
        builder.Services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(TrainingMetrics.MeterName, OrleansMeterName);
            switch (exporter)
            {
                case "console":
                    metrics.AddConsoleExporter();
                    break;
                default:
                    metrics.AddOtlpExporter(otlp =>
                    {
                        if (!string.IsNullOrWhiteSpace(endpoint))
                        {
                            otlp.Endpoint = new Uri(endpoint);
                        }
                    });
                    break;
            }
        });
        return builder;
    }
}
