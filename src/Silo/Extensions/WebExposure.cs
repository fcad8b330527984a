using System.Net;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// Where the silo's web port listens, read from configuration before anything binds, and whether that is beyond this
/// machine's loopback interface. Beyond loopback, anyone who reaches the port could start, stop and publish runs, so
/// control then needs <c>Api:Token</c> (see <see cref="ApiAccessMiddleware"/>).
/// </summary>
public sealed record WebExposure(IReadOnlyList<string> Urls, bool BeyondLoopback)
{
    /// <summary>ASP.NET Core's address when nothing is configured.</summary>
    public const string DefaultUrl = "http://localhost:5000";

    /// <summary>
    /// The addresses Kestrel will bind, as ASP.NET Core chooses them: endpoints under <c>Kestrel:Endpoints</c> replace
    /// <c>urls</c> (appsettings' <c>Urls</c>, <c>ASPNETCORE_URLS</c>, <c>--urls</c>), which replace <c>http_ports</c> /
    /// <c>https_ports</c> (any address), which replace the default.
    /// </summary>
    public static WebExposure From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Select(endpoint => endpoint["Url"])
            .OfType<string>()
            .ToArray();
        var urls = endpoints.Length > 0 ? endpoints
            : Split(configuration["urls"]) is { Length: > 0 } configured ? configured
            : Split(configuration["http_ports"]).Select(port => $"http://*:{port}")
                .Concat(Split(configuration["https_ports"]).Select(port => $"https://*:{port}"))
                .ToArray() is { Length: > 0 } ports ? ports
            : [DefaultUrl];
        return new WebExposure(urls, urls.Any(url => !IsLoopback(url)));
    }

    /// <summary>
    /// Whether <paramref name="url"/> binds only loopback: <c>localhost</c> or a loopback IP. Kestrel binds any other
    /// host name, <c>*</c>, <c>+</c> and <c>0.0.0.0</c> to every interface; an address it cannot parse counts as beyond.
    /// </summary>
    public static bool IsLoopback(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? rest[..slash] : rest;
        string host;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            host = close > 0 ? authority[1..close] : authority;
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon >= 0 ? authority[..colon] : authority;
        }

        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    private static string[] Split(string? value) =>
        value?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
}
